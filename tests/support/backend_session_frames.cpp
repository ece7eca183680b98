// The WebSocket half of Session: frame checks, echo, control frames and the
// special commands. backend_session.cpp holds the I/O and life cycle.
#include <string>

#include "tests/support/backend_server.h"
#include "tests/support/backend_session.h"

namespace wsgate::test {

std::size_t Session::consume_frames(std::span<std::uint8_t> in) {
  std::size_t used = 0;
  // A state change (to kDraining) returns to consume(), which picks the new step.
  while (!ended_ && !stalled() && state_ != State::kDraining) {
    std::size_t n = 0;
    const FrameParser::Event ev = parser_.next(in.subspan(used), n);
    used += n;
    switch (ev.kind) {
      case FrameParser::Kind::kNeedMore: return used;
      case FrameParser::Kind::kHeader: on_frame_header(); break;
      case FrameParser::Kind::kPayload: on_frame_payload(ev.payload); break;
      case FrameParser::Kind::kEnd: on_frame_end(); break;
    }
  }
  return used;
}

// RFC 6455 checks a server owes its clients. Returns "" when the header is
// fine; each problem is logged by fail() so tests can prove what wsgate let
// through.
std::string Session::frame_problem() const {
  const FrameHeader& h = parser_.header();
  const std::string what = " (opcode " + std::to_string(h.opcode) + ", " + std::to_string(h.length) + " bytes)";
  const bool first_data = h.opcode == kText || h.opcode == kBinary;
  if (!h.masked) return "unmasked frame from client (RFC 6455 5.1)" + what;
  if (h.rsv != 0 && !(decision_.allow_rsv1 && h.rsv == 4 && first_data))
    return "RSV bits " + std::to_string(h.rsv) + " set" + what;
  if (!is_known_opcode(h.opcode)) return "reserved opcode" + what;
  if (is_control(h.opcode) && (!h.fin || h.length > 125)) return "fragmented or oversized control frame" + what;
  if (h.opcode == kContinuation && !in_message_) return "continuation frame with no message open";
  if (first_data && in_message_) return "new data frame inside a fragmented message";
  if (h.length >> 63) return "64-bit length with the top bit set";
  return {};
}

void Session::on_frame_header() {
  if (const std::string problem = frame_problem(); !problem.empty()) {
    fail(1002, problem);
    return;
  }
  const FrameHeader& h = parser_.header();
  frame_.clear();
  buffering_ = streaming_ = false;
  if (is_control(h.opcode)) {
    buffering_ = true;  // <= 125 bytes, checked above
    return;
  }
  in_message_ = !h.fin;
  if (state_ != State::kOpen) return;  // after our close, data is dropped
  if (h.opcode == kText && h.fin && h.length <= kMaxCommandLength) {
    buffering_ = true;  // may be a command; short, so buffering is cheap
    return;
  }
  streaming_ = true;
  FrameHeader out = h;
  out.masked = false;
  out_ += encode_header(out);
}

void Session::on_frame_payload(std::span<std::uint8_t> chunk) {
  const char* p = reinterpret_cast<const char*>(chunk.data());
  if (buffering_) {
    frame_.append(p, chunk.size());
  } else if (streaming_) {
    out_.append(p, chunk.size());
  }
}

void Session::on_frame_end() {
  const FrameHeader& h = parser_.header();
  if (streaming_) {
    streaming_ = false;
    output_frame_done();
    return;
  }
  if (!buffering_) return;
  buffering_ = false;
  if (is_control(h.opcode)) {
    on_control_frame(h.opcode, frame_);
  } else if (const auto cmd = parse_command(frame_)) {
    run_command(*cmd);
  } else {
    FrameHeader out = h;
    out.masked = false;
    out_ += encode_header(out);
    out_ += frame_;
  }
}

void Session::on_control_frame(std::uint8_t opcode, const std::string& payload) {
  if (opcode == kClose) {
    on_peer_close(payload);
    return;
  }
  if (state_ != State::kOpen) return;
  if (opcode == kPong) ++pongs_;
  if (opcode == kPing) {
    send_frame(kPong, payload);
  } else if (pending_ping_ && *pending_ping_ == payload) {
    pending_ping_.reset();
    send_frame(kText, "pong:" + payload);
  }
}

void Session::on_peer_close(const std::string& payload) {
  if (state_ == State::kOpen) {
    // "peer sent close 1001; echoing it": tests look for the code. Not the
    // reason: wsgate's "client protocol error" would read as this backend's
    // own "protocol error" log line, which tests look for too.
    std::string what = "peer sent close";
    if (payload.size() >= 2) {
      const unsigned code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      what += " " + std::to_string(code);
    }
    log_info(what + "; echoing it");
    send_frame(kClose, payload);  // echoed verbatim, as the tests expect
  }
  start_draining();
}

void Session::run_command(const Command& c) {
  using K = Command::Kind;
  switch (c.kind) {
    case K::kWhoami: send_frame(kText, server_.name()); break;
    case K::kHeaders: send_frame(kText, std::string_view(request_).substr(0, request_.size() - 4)); break;
    case K::kClose: request_close(c.close_code, c.text); break;
    case K::kDrop:
      log_info("drop: closing TCP without a close frame");
      flush();  // what is already queued still goes out first
      end();
      break;
    case K::kSendMasked: send_frame(kText, "masked", true); break;
    case K::kPing:
      pending_ping_ = c.text;
      send_frame(kPing, c.text);
      break;
    case K::kFlood:
      flood_ = Flood{c.count, c.size, 0, 0};
      if (c.count == 0) send_frame(kText, "flood-done");
      pump_flood();
      break;
    case K::kStats: send_frame(kText, "{\"connections\":" + std::to_string(server_.live_sessions()) + "}"); break;
    case K::kPongs: send_frame(kText, "pongs:" + std::to_string(pongs_)); break;
  }
}

void Session::fail(std::uint16_t code, const std::string& why) {
  log_error("protocol error: " + why + "; closing with " + std::to_string(code));
  if (state_ == State::kOpen) send_close(code, why.substr(0, 123));
  start_draining();
}

}  // namespace wsgate::test
