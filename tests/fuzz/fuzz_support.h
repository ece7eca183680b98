// What the fuzz targets share: where to cut an input into the reads a peer's
// bytes arrive in, a check that stops the fuzzer on a broken property, and an
// independent decoder of RFC 6455 frames to read what wsgate wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A broken property is a finding like a sanitizer report: print it and
// abort, so libFuzzer saves the input.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace wsgate::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Read sizes drawn from a hash of the input: every input gets cuts of its
// own (single bytes, small and large pieces), and a saved crash replays with
// the same cuts. Seeds stay plain wire bytes, with no framing of our own.
class Splitter {
 public:
  Splitter(const uint8_t* data, size_t size) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (size_t i = 0; i < size; ++i) {
      h = (h ^ data[i]) * 0x100000001b3ULL;
    }
    state_ = h | 1;
  }
  // The next read's size, 1..rest (rest > 0).
  size_t next(size_t rest) {
    const uint64_t r = step();
    size_t n = rest;
    switch (r & 3) {
      case 0: n = 1; break;
      case 1: n = 1 + (r >> 8) % 8; break;
      case 2: n = 1 + (r >> 8) % 200; break;
      default: break;  // everything left in one read
    }
    return n < rest ? n : rest;
  }
  uint64_t step() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

 private:
  uint64_t state_;
};

// One frame as RFC 6455 section 5.2 puts it on the wire, decoded here without
// wsgate's codec, so what wsgate writes is checked against the format itself.
struct WireFrame {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  std::string payload;  // unmasked
};

// Every complete frame at the start of `wire`; `rest` gets the bytes of a
// frame not complete yet. A frame the format forbids (a length with its top
// bit set, a non-minimal length) sets `bad`.
inline std::vector<WireFrame> decode_frames(std::string_view wire, size_t& rest, bool& bad) {
  std::vector<WireFrame> frames;
  bad = false;
  size_t p = 0;
  auto at = [&](size_t i) { return static_cast<uint8_t>(wire[i]); };
  for (;;) {
    rest = wire.size() - p;
    if (rest < 2) {
      return frames;
    }
    WireFrame f;
    f.fin = (at(p) & 0x80) != 0;
    f.rsv = static_cast<uint8_t>((at(p) >> 4) & 7);
    f.opcode = at(p) & 0x0f;
    f.masked = (at(p + 1) & 0x80) != 0;
    uint64_t len = at(p + 1) & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (rest < 4) return frames;
      len = uint64_t{at(p + 2)} << 8 | at(p + 3);
      h = 4;
      bad = bad || len < 126;
    } else if (len == 127) {
      if (rest < 10) return frames;
      len = 0;
      for (size_t i = 0; i < 8; ++i) len = len << 8 | at(p + 2 + i);
      h = 10;
      bad = bad || len < 65536 || (len >> 63) != 0;
    }
    const size_t key_at = p + h;
    if (f.masked) h += 4;
    if (rest < h || rest - h < len) {
      return frames;
    }
    f.payload.assign(wire.substr(p + h, len));
    if (f.masked) {
      for (size_t i = 0; i < len; ++i) {
        f.payload[i] = static_cast<char>(f.payload[i] ^ wire[key_at + i % 4]);
      }
    }
    frames.push_back(std::move(f));
    p += h + len;
  }
}

}  // namespace wsgate::fuzz
