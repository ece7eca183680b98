// The WebSocket half of FeedConnection: frame checks, recording what the
// client sends, and control frames. feed_connection.cpp holds the I/O and
// life cycle.
#include <string>

#include "tests/support/feed_connection.h"
#include "tests/support/feed_server.h"

namespace wsgate::test {

void FeedConnection::consume_frames(std::span<std::uint8_t> in) {
  std::size_t used = 0;
  while (!ended_ && (state_ == State::kOpen || state_ == State::kCloseSent)) {
    std::size_t n = 0;
    const FrameParser::Event ev = parser_.next(in.subspan(used), n);
    used += n;
    switch (ev.kind) {
      case FrameParser::Kind::kNeedMore: return;
      case FrameParser::Kind::kHeader: on_frame_header(); break;
      case FrameParser::Kind::kPayload: on_frame_payload(ev.payload); break;
      case FrameParser::Kind::kEnd: on_frame_end(); break;
    }
  }
}

// RFC 6455 checks a server owes its clients; "" when the header is fine.
// Each problem is logged by fail() so a test can see what wsgate sent.
std::string FeedConnection::frame_problem() const {
  const FrameHeader& h = parser_.header();
  const std::string what = " (opcode " + std::to_string(h.opcode) + ", " + std::to_string(h.length) + " bytes)";
  const bool first_data = h.opcode == kText || h.opcode == kBinary;
  if (!h.masked) return "unmasked frame from client (RFC 6455 5.1)" + what;
  if (h.rsv != 0) return "RSV bits " + std::to_string(h.rsv) + " set" + what;
  if (!is_known_opcode(h.opcode)) return "reserved opcode" + what;
  if (is_control(h.opcode) && (!h.fin || h.length > 125)) return "fragmented or oversized control frame" + what;
  if (h.opcode == kContinuation && !in_message_) return "continuation frame with no message open";
  if (first_data && in_message_) return "new data frame inside a fragmented message";
  return {};
}

void FeedConnection::on_frame_header() {
  if (const std::string problem = frame_problem(); !problem.empty()) {
    fail(1002, problem);
    return;
  }
  const FrameHeader& h = parser_.header();
  if (is_control(h.opcode)) {
    control_.clear();  // <= 125 bytes, checked above; a message may be open around it
    return;
  }
  in_message_ = !h.fin;
  if (h.opcode != kContinuation) {
    collecting_ = state_ == State::kOpen;  // after our close, data is dropped
    message_.clear();
  }
  if (collecting_ && h.length > kMaxMessage - message_.size())
    fail(1009, "message over " + std::to_string(kMaxMessage) + " bytes");
}

void FeedConnection::on_frame_payload(std::span<std::uint8_t> chunk) {
  const char* p = reinterpret_cast<const char*>(chunk.data());
  if (is_control(parser_.header().opcode)) {
    control_.append(p, chunk.size());
  } else if (collecting_) {
    message_.append(p, chunk.size());
  }
}

void FeedConnection::on_frame_end() {
  const FrameHeader& h = parser_.header();
  if (is_control(h.opcode)) {
    on_control_frame(h.opcode);
  } else if (collecting_ && h.fin) {
    collecting_ = false;
    server_.record(id_, channel_, std::move(message_));
    message_ = std::string();
  }
}

void FeedConnection::on_control_frame(std::uint8_t opcode) {
  if (opcode == kClose) {
    if (state_ == State::kOpen) {
      log_info("peer sent close; echoing it");
      send_frame(kClose, control_);  // echoed verbatim
    }
    start_draining();  // after our own close this was the reply
  } else if (opcode == kPing && state_ == State::kOpen) {
    send_frame(kPong, control_);
  }
  // Pongs need no answer.
}

void FeedConnection::fail(std::uint16_t code, const std::string& why) {
  log_error("protocol error: " + why + "; closing with " + std::to_string(code));
  if (state_ == State::kOpen) send_frame(kClose, close_payload(code, why.substr(0, 123)));
  start_draining();
}

}  // namespace wsgate::test
