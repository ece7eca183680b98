// RFC 6455 rules above framing, for the frames one peer sends: masking by
// role, RSV bits, opcodes, fragmentation order, message size and fragment
// caps, UTF-8 in text messages and close reasons, close codes. Each check
// answers with the close code the offender gets (checklist F1-F12), or 0.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "worker/ws/frame_codec.h"
#include "worker/ws/utf8.h"

namespace wsgate::worker {

namespace opcode {
inline constexpr uint8_t continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA;
}

namespace close_code {
inline constexpr uint16_t normal = 1000, going_away = 1001, protocol_error = 1002, unsupported = 1003, no_status = 1005,
                          invalid_payload = 1007, policy = 1008, too_big = 1009, internal_error = 1011,
                          service_restart = 1012, try_later = 1013, bad_gateway = 1014;
}

// Codes a peer may put on the wire (RFC 6455 7.4, IANA registry).
bool is_valid_wire_close_code(uint16_t code);

struct RuleLimits {
  uint64_t max_message = 16 * 1024 * 1024;
  uint32_t max_fragments = 4096;
  bool expect_masked = true;  // true for frames from clients, false for frames from backends
  bool validate_utf8 = true;
};

class MessageRules {
 public:
  explicit MessageRules(const RuleLimits& limits) : limits_(limits) {}

  uint16_t on_frame_start(const FrameHead& head);
  // Payload of the current frame. Control payload (<= 125 bytes) is kept for
  // control_payload(); data payload is only checked.
  uint16_t on_payload(const uint8_t* data, size_t n);
  uint16_t on_frame_end();
  // Asked before relaying the chunk that ends a frame: 1007 when that frame
  // ends a text message in the middle of a character, so the offender is
  // failed before the peer gets a whole message it would have to refuse.
  uint16_t check_frame_ending() const {
    return frame_fin_ && message_is_text_ && in_message_ && !current_is_control() && limits_.validate_utf8 &&
                   !utf8_.complete()
               ? close_code::invalid_payload
               : 0;
  }

  // A data frame whose head announces more than max_message allows (what
  // on_frame_start would answer 1009 to), asked before any of its payload.
  bool announces_too_much(const FrameHead& h) const {
    if (h.opcode == opcode::continuation) {
      return in_message_ && h.length > limits_.max_message - message_bytes_;
    }
    return (h.opcode == opcode::text || h.opcode == opcode::binary) && !in_message_ && h.length > limits_.max_message;
  }

  bool current_is_control() const { return (frame_opcode_ & 0x8) != 0; }
  // A data message has started and its last frame has not ended yet.
  bool in_message() const { return in_message_; }
  uint8_t current_opcode() const { return frame_opcode_; }
  std::span<const uint8_t> control_payload() const { return {control_.get(), control_len_}; }
  // Frees the buffer a control frame's payload was kept in, once it has been
  // acted on: an idle session holds none (it is most of this object's size).
  void release_control() {
    control_.reset();
    control_len_ = 0;
  }

 private:
  uint16_t check_close_payload() const;

  RuleLimits limits_;
  Utf8Validator utf8_;
  bool in_message_ = false;
  bool message_is_text_ = false;
  uint64_t message_bytes_ = 0;
  uint32_t fragments_ = 0;
  uint8_t frame_opcode_ = 0;
  bool frame_fin_ = false;
  std::unique_ptr<uint8_t[]> control_;  // 125 bytes while a control frame is handled
  uint8_t control_len_ = 0;
};

}  // namespace wsgate::worker
