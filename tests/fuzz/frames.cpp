// The frame codec and the message rules (worker/ws/frame_codec.cpp,
// message_rules.cpp) as one side of the relay runs them, both directions:
// the first byte says whose bytes these are (bit 0: a backend's, else a
// client's), the rest are read in reads cut at points drawn from the input.
// Every frame the rules let through is re-sent by the other side's codec.
// Checked: the outcome (frames, payloads, close code) does not depend on the
// cuts, and what the codec wrote decodes, by this file's own decoder, to
// exactly the frames that were read, masked as the receiving side needs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "worker/ws/frame_codec.h"
#include "worker/ws/message_rules.h"

using namespace wsgate;
using namespace wsgate::worker;

namespace {

void mask_source(uint8_t* out, size_t len) {
  static uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
}

FrameContextPool& pool(bool mask_output) {
  static FrameContextPool masked{mask_source}, unmasked{mask_source};
  return mask_output ? masked : unmasked;
}

struct StringSink final : ByteSink {
  std::string bytes;
  void append(const uint8_t* data, size_t n) override { bytes.append(reinterpret_cast<const char*>(data), n); }
};

struct Outcome {
  std::vector<fuzz::WireFrame> frames;  // every frame read whole and let through, as read
  uint16_t code = 0;                    // the close code the sender got, 0 if none
  bool header_error = false;            // the codec refused a frame header
  std::string relayed;                  // what the other side's codec wrote
};

// Small limits, so that the fuzzer reaches them.
constexpr uint64_t kMaxMessage = 3000;
constexpr uint32_t kMaxFragments = 16;

template <class NextRead>
Outcome run(bool from_client, std::string_view wire, NextRead next_read) {
  Outcome o;
  StringSink unused, out;
  // The reading side's codec writes toward the sender (masked only toward
  // a backend); the other side's toward the receiver.
  FrameCodec in(unused, !from_client, pool(!from_client));
  FrameCodec relay(out, from_client, pool(from_client));
  MessageRules rules(RuleLimits{kMaxMessage, kMaxFragments, from_client, true});
  fuzz::WireFrame current;
  size_t done = 0;
  while (done < wire.size() && o.code == 0 && !o.header_error) {
    const size_t n = next_read(wire.size() - done);
    in.feed(reinterpret_cast<const uint8_t*>(wire.data()) + done, n);
    done += n;
    FrameChunk c;
    for (;;) {
      const FrameCodec::Next r = in.next(c);
      if (r == FrameCodec::Next::need_more) break;
      if (r == FrameCodec::Next::protocol_error) {
        o.header_error = true;
        break;
      }
      FUZZ_CHECK(c.size <= c.head.length);
      if (c.starts_frame) {
        if ((o.code = rules.on_frame_start(c.head)) != 0) break;
        current = fuzz::WireFrame{c.head.fin, c.head.rsv, c.head.opcode, c.head.masked, {}};
      }
      if ((o.code = rules.on_payload(c.data, c.size)) != 0) break;
      current.payload.append(reinterpret_cast<const char*>(c.data), c.size);
      if (!rules.current_is_control()) {
        FrameHead head = c.head;
        head.masked = from_client;
        relay.send(head, c.data, c.size);
      }
      if (c.ends_frame) {
        FUZZ_CHECK(current.payload.size() == c.head.length);
        if ((o.code = rules.on_frame_end()) != 0) break;
        if (rules.current_is_control()) {
          FUZZ_CHECK(!relay.output_mid_frame());
          const auto p = rules.control_payload();
          FUZZ_CHECK(p.size() == current.payload.size());
          relay.send_control(c.head.opcode, p.data(), p.size());
          rules.release_control();
        }
        o.frames.push_back(current);
      }
    }
    in.discard_input();
    in.release_if_idle();
    relay.release_if_idle();
  }
  o.relayed = std::move(out.bytes);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const bool from_client = (data[0] & 1) == 0;
  const std::string_view wire = fuzz::as_text(data + 1, size - 1);
  const Outcome at_once = run(from_client, wire, [](size_t rest) { return rest; });
  fuzz::Splitter split(data, size);
  const Outcome in_reads = run(from_client, wire, [&](size_t rest) { return split.next(rest); });

  FUZZ_CHECK(at_once.code == in_reads.code);
  FUZZ_CHECK(at_once.header_error == in_reads.header_error);
  FUZZ_CHECK(at_once.frames.size() == in_reads.frames.size());
  for (const Outcome* o : {&at_once, &in_reads}) {
    size_t rest = 0;
    bool bad = false;
    const std::vector<fuzz::WireFrame> relayed = fuzz::decode_frames(o->relayed, rest, bad);
    FUZZ_CHECK(!bad);
    FUZZ_CHECK(relayed.size() >= o->frames.size());
    for (size_t i = 0; i < o->frames.size(); ++i) {
      const fuzz::WireFrame& a = o->frames[i];
      const fuzz::WireFrame& b = relayed[i];
      FUZZ_CHECK(a.fin == b.fin && a.rsv == 0 && b.rsv == 0 && a.opcode == b.opcode);
      FUZZ_CHECK(a.masked == from_client && b.masked == from_client);
      FUZZ_CHECK(a.payload == b.payload);
      FUZZ_CHECK(a.payload == at_once.frames[i].payload);
    }
  }
  return 0;
}
