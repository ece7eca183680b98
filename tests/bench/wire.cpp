#include "tests/bench/wire.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace wsgate::bench {

FastRandom::FastRandom() {
  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) seed = 0x9e3779b97f4a7c15ULL;
  state_ = seed | 1;
}

std::uint64_t FastRandom::next() {  // xorshift64*
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

Pattern::Pattern(std::size_t max_size) : max_size_(max_size), bytes_(max_size + kSpread) {
  FastRandom r;
  for (auto& b : bytes_) b = static_cast<std::uint8_t>(r.next() >> 56);
}

const std::uint8_t* Pattern::body(std::uint64_t conn, std::uint64_t seq) const {
  return bytes_.data() + (seq * 7 + conn * 13) % kSpread;
}

void Pattern::tag(std::uint64_t conn, std::uint64_t seq, std::uint8_t out[kTagSize]) {
  const std::uint64_t v = (conn << 40) | (seq & ((1ULL << 40) - 1));
  for (std::size_t i = 0; i < kTagSize; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void Pattern::fill(std::uint64_t conn, std::uint64_t seq, std::size_t offset, std::span<std::uint8_t> out) const {
  std::uint8_t t[kTagSize];
  tag(conn, seq, t);
  const std::uint8_t* b = body(conn, seq);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t at = offset + i;
    out[i] = at < kTagSize ? t[at] : b[at];
  }
}

bool Pattern::matches(std::uint64_t conn, std::uint64_t seq, std::size_t offset,
                      std::span<const std::uint8_t> got) const {
  if (offset + got.size() > max_size_) return false;
  std::size_t i = 0;
  if (offset < kTagSize) {
    std::uint8_t t[kTagSize];
    tag(conn, seq, t);
    for (; i < got.size() && offset + i < kTagSize; ++i)
      if (got[i] != t[offset + i]) return false;
  }
  if (i == got.size()) return true;
  return std::memcmp(got.data() + i, body(conn, seq) + offset + i, got.size() - i) == 0;
}

void xor_mask(std::uint8_t* out, const std::uint8_t* in, std::size_t n, std::uint32_t mask, std::size_t key_offset) {
  std::uint8_t k[4];
  std::memcpy(k, &mask, 4);
  std::uint8_t r[8];
  for (std::size_t j = 0; j < 8; ++j) r[j] = k[(j + key_offset) & 3];
  std::uint64_t k64;
  std::memcpy(&k64, r, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, in + i, 8);
    v ^= k64;
    std::memcpy(out + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = in[i] ^ r[i & 7];
}

namespace {

// Writes a client frame header (FIN set, mask bit set) and returns its size.
std::size_t write_header(std::uint8_t* p, std::uint8_t opcode, std::uint64_t len, std::uint32_t mask) {
  std::size_t n = 0;
  p[n++] = static_cast<std::uint8_t>(0x80 | opcode);
  if (len <= 125) {
    p[n++] = static_cast<std::uint8_t>(0x80 | len);
  } else if (len <= 0xffff) {
    p[n++] = 0x80 | 126;
    p[n++] = static_cast<std::uint8_t>(len >> 8);
    p[n++] = static_cast<std::uint8_t>(len);
  } else {
    p[n++] = 0x80 | 127;
    for (int s = 56; s >= 0; s -= 8) p[n++] = static_cast<std::uint8_t>(len >> s);
  }
  std::memcpy(p + n, &mask, 4);
  return n + 4;
}

}  // namespace

void append_message_frame(std::vector<std::uint8_t>& out, const Pattern& pattern, std::uint64_t conn, std::uint64_t seq,
                          std::size_t size, std::uint32_t mask) {
  if (size < kTagSize || size > pattern.max_size()) throw std::logic_error("message size out of pattern range");
  const std::size_t pos = out.size();
  out.resize(pos + 14 + size);
  std::uint8_t* p = out.data() + pos;
  const std::size_t h = write_header(p, 0x2, size, mask);
  std::uint8_t t[kTagSize];
  Pattern::tag(conn, seq, t);
  xor_mask(p + h, t, kTagSize, mask, 0);
  xor_mask(p + h + kTagSize, pattern.body(conn, seq) + kTagSize, size - kTagSize, mask, kTagSize);
  out.resize(pos + h + size);
}

void append_control_frame(std::vector<std::uint8_t>& out, std::uint8_t opcode, std::span<const std::uint8_t> payload,
                          std::uint32_t mask) {
  const std::size_t len = std::min<std::size_t>(payload.size(), 125);
  const std::size_t pos = out.size();
  out.resize(pos + 6 + len);
  std::uint8_t* p = out.data() + pos;
  const std::size_t h = write_header(p, opcode, len, mask);
  xor_mask(p + h, payload.data(), len, mask, 0);
}

bool FrameReader::header_complete() {
  if (head_have_ < 2) return false;
  const std::uint8_t len7 = head_[1] & 0x7f;
  std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((head_[1] & 0x80) ? 4 : 0);
  return head_have_ >= need;
}

bool FrameReader::start_frame() {
  const std::uint8_t b0 = head_[0], b1 = head_[1];
  fin_ = (b0 & 0x80) != 0;
  opcode_ = b0 & 0x0f;
  if (b0 & 0x70) return error_ = "RSV bit set in a server frame", false;
  if (b1 & 0x80) return error_ = "masked server frame", false;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    len = (std::uint64_t{head_[2]} << 8) | head_[3];
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | head_[i];
    if (len >> 63) return error_ = "64-bit frame length with the top bit set", false;
  }
  remaining_ = len;
  control_have_ = 0;
  if (opcode_ >= 0x8) {
    if (opcode_ > 0xA) return error_ = "reserved control opcode", false;
    if (!fin_ || len > 125) return error_ = "fragmented or oversized control frame", false;
    return true;
  }
  if (opcode_ == 0x1 || opcode_ == 0x2) {
    if (in_message_) return error_ = "new data message inside a fragmented one", false;
    msg_opcode_ = opcode_;
    message_started_ = true;
  } else if (opcode_ == 0x0) {
    if (!in_message_) return error_ = "continuation frame outside a message", false;
  } else {
    return error_ = "reserved data opcode", false;
  }
  in_message_ = !fin_;
  return true;
}

bool FrameReader::feed(std::span<const std::uint8_t> in, Sink& sink) {
  if (!error_.empty()) return false;
  while (true) {
    if (!in_payload_) {
      if (in.empty()) return true;
      // Copy header bytes one step at a time: 2 first, then what they announce.
      while (!header_complete() && !in.empty()) {
        std::size_t want = 2;
        if (head_have_ >= 2) {
          const std::uint8_t len7 = head_[1] & 0x7f;
          want = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((head_[1] & 0x80) ? 4 : 0);
        }
        const std::size_t n = std::min(want - head_have_, in.size());
        std::memcpy(head_ + head_have_, in.data(), n);
        head_have_ += n;
        in = in.subspan(n);
      }
      if (!header_complete()) return true;
      if (!start_frame()) return false;
      in_payload_ = true;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
    const auto chunk = in.first(n);
    in = in.subspan(n);
    remaining_ -= n;
    const bool frame_end = remaining_ == 0;
    if (opcode_ < 0x8) {
      // Empty chunks are delivered only when they start or end a message.
      if (n > 0 || message_started_ || (frame_end && fin_)) {
        const bool start = message_started_;
        message_started_ = false;
        if (!sink.on_data(msg_opcode_, chunk, start, frame_end && fin_)) return error_ = "sink", false;
      }
    } else {
      std::memcpy(control_ + control_have_, chunk.data(), n);
      control_have_ += n;
      if (frame_end && !sink.on_control(opcode_, {control_, control_have_})) return error_ = "sink", false;
    }
    if (frame_end) {
      in_payload_ = false;
      head_have_ = 0;
    } else {
      return true;  // input used up inside the payload
    }
  }
}

}  // namespace wsgate::bench
