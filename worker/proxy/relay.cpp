#include "worker/proxy/relay.h"

#include <span>

#include "worker/conn/keepalive.h"
#include "worker/log/log.h"

namespace wsgate::worker {

bool Relay::relay_chunk(RelayPeer& src, RelayPeer& dst, const FrameChunk& chunk) {
  MessageRules& rules = src.rules;
  uint16_t code = chunk.starts_frame ? rules.on_frame_start(chunk.head) : 0;
  if (code == 0) {
    code = rules.on_payload(chunk.data, chunk.size);
  }
  if (code == 0 && chunk.ends_frame) {
    code = rules.check_frame_ending();  // F11: before the peer gets the message's end
  }
  if (code != 0) {
    fail(src, code, chunk.head.masked == src.is_backend ? "frame masking is wrong" : "invalid frame");
    return false;
  }
  bool control = rules.current_is_control();
  bool forward = !src.close_received && writable(dst);
  if (state_.drop_client_message && !src.is_backend && !control) {
    // The lost backend got the start of this message; the new one must not
    // get its middle. Dropped whole, up to and including its last frame.
    forward = false;
    if (chunk.ends_frame && chunk.head.fin) {
      state_.drop_client_message = false;
    }
  }
  if (!control && forward) {
    if (chunk.size > 0 || chunk.head.length == 0) {
      dst.codec->send(chunk.head, chunk.data, chunk.size);
    }
    FlowCount& flow = src.is_backend ? stats_.down : stats_.up;
    flow.bytes += chunk.size;
    flow.messages += chunk.ends_frame && chunk.head.fin ? 1 : 0;
  }
  if (chunk.ends_frame) {
    code = rules.on_frame_end();
    if (code != 0) {
      fail(src, code, "invalid frame");
      return false;
    }
    if (control) {
      relay_control(src, dst);
      src.rules.release_control();
    }
  }
  return !state_.over && !src.gone;
}

// A head that announces more than max_message gets its 1009 now (F9), not
// when (if ever) the first byte of its payload arrives.
void Relay::check_pending_head(RelayPeer& src) {
  if (FrameHead head; src.codec->pending_head(head) && src.rules.announces_too_much(head)) {
    fail(src, close_code::too_big, "frame over max_message announced");
  }
}

void Relay::relay_control(RelayPeer& src, RelayPeer& dst) {
  std::span<const uint8_t> payload = src.rules.control_payload();
  uint8_t op = src.rules.current_opcode();
  // src is between frames here, so every frame relayed from it to a dst that
  // is still open is complete and a control frame can go out whole, in order.
  if (op != opcode::close) {
    if (op == opcode::pong && !src.is_backend && is_keepalive_pong(payload)) {
      return;  // the answer to wsgate's own ping: the backend never asked for it
    }
    if (!src.close_received && writable(dst)) {
      dst.codec->send_control(op, payload.data(), payload.size());
    }
    return;
  }
  src.close_received = true;
  src.close_payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
  const uint16_t code = close_code_of(payload.data(), payload.size());
  host_.count_close(src, false, code);
  stats_.note_closer(src.is_backend ? log::Closer::backend : log::Closer::client);
  if (!dst.close_sent && !dst.gone) {
    // Relayed as sent, code and reason: the other peer's answer comes back the same way.
    dst.codec->send_control(opcode::close, payload.data(), payload.size());
    dst.close_sent = true;
    host_.count_close(dst, true, code);
    host_.on_closing();
  } else if (dst.gone) {
    echo_close(src);
  }
  maybe_finish();
}

void Relay::send_close(RelayPeer& p, uint16_t code, std::string_view reason) {
  if (p.close_sent || p.gone) {
    return;
  }
  if (p.codec->output_mid_frame()) {
    // A close cannot be put inside a frame that is half sent; the only
    // honest end left is the TCP close.
    p.gone = true;
    host_.stop_reading(p);
    return;
  }
  p.codec->send_close(code, reason);
  p.close_sent = true;
  host_.count_close(p, true, code);
  stats_.note_closer(log::Closer::wsgate);  // unless a peer began it
  host_.flush_peer(p);
  host_.on_closing();
}

void Relay::fail(RelayPeer& offender, uint16_t code, const char* why) {
  LOG_INFO("%s from %s %s: closing it with %u", why, offender.is_backend ? "backend" : "client",
           host_.label(offender).c_str(), code);
  if (offender.gone) {
    return;
  }
  // Checklist: stop reading from the offender. Its close waits for the other
  // peer's answer (maybe_finish pays it), so the replies to its earlier,
  // valid messages still reach it; close_timeout bounds the wait.
  offender.gone = true;
  offender.owed_close = code;
  host_.stop_reading(offender);
  RelayPeer& o = other(offender);
  if (offender.is_backend) {
    send_close(o, close_code::bad_gateway, "backend protocol error");
  } else {
    send_close(o, close_code::going_away, "client protocol error");
  }
  maybe_finish();
}

void Relay::pay_owed_close(RelayPeer& p) {
  const uint16_t code = p.owed_close;
  p.owed_close = 0;  // from here p is plain gone: send_close below may write to it once
  if (p.close_sent || p.codec->output_mid_frame()) {
    return;  // a frame toward it was cut short (the other peer went mid-message): TCP close only
  }
  p.codec->send_close(code, "");
  p.close_sent = true;
  host_.count_close(p, true, code);
  stats_.note_closer(log::Closer::wsgate);
  host_.flush_peer(p);
  host_.on_closing();
}

void Relay::pay_owed_closes() {
  for (RelayPeer* p : {&client_, &backend_}) {
    if (p->owed_close != 0) {
      pay_owed_close(*p);
    }
  }
}

// Nobody is left to answer `p`'s close: wsgate echoes it (RFC 6455 5.5.1),
// rather than inventing a code of its own for a close the peer began.
void Relay::echo_close(RelayPeer& p) {
  if (!p.close_sent && !p.gone && !p.codec->output_mid_frame()) {
    p.codec->send_control(opcode::close, reinterpret_cast<const uint8_t*>(p.close_payload.data()),
                          p.close_payload.size());
    p.close_sent = true;
    host_.count_close(p, true,
                      close_code_of(reinterpret_cast<const uint8_t*>(p.close_payload.data()), p.close_payload.size()));
    host_.flush_peer(p);
  }
}

void Relay::peer_gone(RelayPeer& p, uint16_t other_code) {
  stats_.note_closer(p.is_backend ? log::Closer::backend : log::Closer::client);
  p.gone = true;
  p.owed_close = 0;  // it left before its close was due
  host_.stop_reading(p);
  RelayPeer& o = other(p);
  if (o.close_received) {
    echo_close(o);  // it was already closing: its own close is the answer
  } else if (!p.close_received) {
    send_close(o, other_code, p.is_backend ? "backend went away" : "client went away");
  }
  maybe_finish();
}

void Relay::maybe_finish() {
  if (state_.over) {
    return;
  }
  for (RelayPeer* p : {&client_, &backend_}) {
    if (p->owed_close != 0 && peer_done(other(*p))) {
      pay_owed_close(*p);  // the other peer's last frame is relayed: its close is next
    }
  }
  if (peer_done(backend_)) {
    host_.on_backend_done();
  }
  if (!peer_done(client_) || !peer_done(backend_)) {
    return;
  }
  state_.over = true;
  host_.on_relay_over();
}

}  // namespace wsgate::worker
