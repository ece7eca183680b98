#include "worker/ws/message_rules.h"

#include <cstring>

namespace wsgate::worker {

bool is_valid_wire_close_code(uint16_t code) {
  if (code >= 3000 && code <= 4999) {
    return true;  // registered (3xxx) and private (4xxx) ranges
  }
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014: return true;
    default: return false;  // <1000, 1004-1006, 1015, unassigned 1016-2999, >=5000
  }
}

uint16_t MessageRules::on_frame_start(const FrameHead& h) {
  if (h.masked != limits_.expect_masked) {
    return close_code::protocol_error;  // F1 / F2
  }
  if (h.rsv != 0) {
    return close_code::protocol_error;  // F4: no extension is ever negotiated
  }
  frame_opcode_ = h.opcode;
  frame_fin_ = h.fin;
  control_len_ = 0;
  switch (h.opcode) {
    case opcode::close:
    case opcode::ping:
    case opcode::pong:
      if (!control_) {
        control_ = std::make_unique_for_overwrite<uint8_t[]>(125);
      }
      return 0;  // wslay already refused length > 125 and fragmentation (F6)
    case opcode::text:
    case opcode::binary:
      if (in_message_) {
        return close_code::protocol_error;  // F7: new message inside another
      }
      in_message_ = true;
      message_is_text_ = h.opcode == opcode::text;
      message_bytes_ = 0;
      fragments_ = 0;
      utf8_.reset();
      break;
    case opcode::continuation:
      if (!in_message_) {
        return close_code::protocol_error;  // F7: nothing to continue
      }
      break;
    default: return close_code::protocol_error;  // F5: reserved opcode
  }
  // Checked against the declared length, before any byte of it is relayed (F9, F10).
  if (h.length > limits_.max_message - message_bytes_ || ++fragments_ > limits_.max_fragments) {
    return close_code::too_big;
  }
  message_bytes_ += h.length;
  return 0;
}

uint16_t MessageRules::on_payload(const uint8_t* data, size_t n) {
  if (current_is_control()) {
    std::memcpy(control_.get() + control_len_, data, n);  // n <= 125 - control_len_: wslay bounds control frames
    control_len_ = static_cast<uint8_t>(control_len_ + n);
    return 0;
  }
  if (message_is_text_ && limits_.validate_utf8 && !utf8_.feed(data, n)) {
    return close_code::invalid_payload;  // F11
  }
  return 0;
}

uint16_t MessageRules::on_frame_end() {
  if (frame_opcode_ == opcode::close) {
    return check_close_payload();
  }
  if (current_is_control() || !frame_fin_) {
    return 0;
  }
  in_message_ = false;
  if (message_is_text_ && limits_.validate_utf8 && !utf8_.complete()) {
    return close_code::invalid_payload;  // text ended mid-character
  }
  return 0;
}

uint16_t MessageRules::check_close_payload() const {
  if (control_len_ == 0) {
    return 0;
  }
  if (control_len_ == 1) {
    return close_code::protocol_error;  // F12: half a status code
  }
  uint16_t code = static_cast<uint16_t>(control_[0] << 8 | control_[1]);
  if (!is_valid_wire_close_code(code)) {
    return close_code::protocol_error;
  }
  Utf8Validator reason;
  if (!reason.feed(control_.get() + 2, control_len_ - 2u) || !reason.complete()) {
    return close_code::invalid_payload;
  }
  return 0;
}

}  // namespace wsgate::worker
