// The relay: frames from one WebSocket peer to the other, chunk by chunk, with
// RFC 6455's rules applied to each side, control frames passed through and
// the close handshake run both ways. It writes only through each peer's
// ByteSink (its codec's output) and asks its host for the rest (flushing,
// stopping a peer's reads, metrics, the session's stage), so it is tested
// without sockets (tests/unit/proxy/relay_test.cpp).
//
// A Relay is a view made for each call (a few references on the stack): the
// state it works on lives in the peers and in the session, so relaying adds
// no bytes to an idle session, and no virtual call per message — the host is
// asked only when a close frame or a protocol error comes by.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "worker/conn/session_stats.h"
#include "worker/ws/byte_sink.h"
#include "worker/ws/frame_codec.h"
#include "worker/ws/message_rules.h"

namespace wsgate::worker {

// One WebSocket peer while relaying: its framing, its rules, where its close
// handshake stands. The owner derives from it to add the connection, and
// implements append() to queue the codec's output there.
struct RelayPeer : ByteSink {
  explicit RelayPeer(bool backend) : is_backend(backend) {}

  std::unique_ptr<FrameCodec> codec;  // null until relaying starts
  MessageRules rules{RuleLimits{}};
  std::string close_payload;  // what its close frame carried: echoed if nobody else answers
  bool is_backend;
  bool close_received = false;
  bool close_sent = false;
  bool gone = false;     // no more reading: EOF, error, or we gave up on it
  bool paused = false;   // reading stopped for backpressure (the owner's to set and clear)
  bool hung_up = false;  // its EOF or a socket error was seen (the owner's to set): nothing left to read
  // It broke the protocol and gets this close code once the other peer's
  // close handshake is over: what the other peer sent before answering
  // wsgate's close still reaches it (0: nothing owed).
  uint16_t owed_close = 0;

 protected:
  ~RelayPeer() = default;
};

// The session's side of the relay, kept there between calls.
struct RelayState {
  // Both close handshakes are done (or the session ended): nothing more is
  // relayed; the owner flushes and closes.
  bool over = false;
  // The rest of a client message the previous backend got part of is
  // dropped (a session moved mid-message: the new backend cannot take its middle).
  bool drop_client_message = false;
};

class RelayHost {
 public:
  // Write what was queued toward `p` now (a close going out).
  virtual void flush_peer(RelayPeer& p) = 0;
  // Stop reading `p`: it is gone, or both close handshakes are done.
  virtual void stop_reading(RelayPeer& p) = 0;
  // One close frame sent to or received from `p` (metrics and the access log).
  virtual void count_close(const RelayPeer& p, bool sent, uint16_t code) = 0;
  // The first close frame went out: the close handshake has close_timeout.
  virtual void on_closing() = 0;
  // The backend's close handshake is over (or it is gone): it stops counting
  // toward routing now, even while the client's is not.
  virtual void on_backend_done() = 0;
  // Both close handshakes are over (RelayState::over is set): flush, then close.
  virtual void on_relay_over() = 0;
  // Names `p` in log lines.
  virtual std::string label(const RelayPeer& p) const = 0;

 protected:
  ~RelayHost() = default;
};

class Relay {
 public:
  Relay(RelayHost& host, RelayPeer& client, RelayPeer& backend, RelayState& state, SessionStats& stats)
      : host_(host), client_(client), backend_(backend), state_(state), stats_(stats) {}

  // Bytes read from `src`: every complete chunk is checked and relayed to the
  // other peer's codec. The caller flushes both peers afterwards (and applies
  // backpressure); nothing is flushed here but close frames. Inline: it runs
  // for every read, and the session calls nothing else there.
  void pump(RelayPeer& src, const uint8_t* data, size_t n);

  // Closes `p` with `code`, unless it was closed already. A peer whose output
  // is inside a frame cannot get a close frame: it is given up instead.
  void send_close(RelayPeer& p, uint16_t code, std::string_view reason);
  // `offender` broke the protocol: it is no longer read, the other peer gets
  // 1014 (backend at fault) or 1001 (client at fault), and the offender gets
  // `code` once the other peer has answered that close (or is gone), so that
  // nothing the other peer sent before is lost.
  void fail(RelayPeer& offender, uint16_t code, const char* why);
  // close_timeout: owed closes go out now, whatever the other peer does.
  void pay_owed_closes();
  // `p` is gone (EOF, error, dropped): the other peer gets its own close echoed
  // when it began one, else `other_code`.
  void peer_gone(RelayPeer& p, uint16_t other_code);
  // Ends the relay once both peers are done (gone, or close sent and received).
  void maybe_finish();

  static bool peer_done(const RelayPeer& p) {
    return (p.gone && p.owed_close == 0) || (p.close_sent && p.close_received);
  }
  // Frames may still be written toward `p`: open, or owed a close.
  static bool writable(const RelayPeer& p) { return !p.close_sent && (!p.gone || p.owed_close != 0); }

 private:
  RelayPeer& other(const RelayPeer& p) { return &p == &client_ ? backend_ : client_; }
  bool relay_chunk(RelayPeer& src, RelayPeer& dst, const FrameChunk& chunk);
  void relay_control(RelayPeer& src, RelayPeer& dst);
  void echo_close(RelayPeer& p);
  void check_pending_head(RelayPeer& src);
  void pay_owed_close(RelayPeer& p);

  RelayHost& host_;
  RelayPeer& client_;
  RelayPeer& backend_;
  RelayState& state_;
  SessionStats& stats_;
};

inline void Relay::pump(RelayPeer& src, const uint8_t* data, size_t n) {
  if (src.gone || state_.over || !src.codec) {
    return;
  }
  RelayPeer& dst = other(src);
  src.codec->feed(data, n);
  FrameChunk chunk;
  for (;;) {
    FrameCodec::Next r = src.codec->next(chunk);
    if (r == FrameCodec::Next::need_more) {
      if (src.codec->holds_unreported_input()) {
        check_pending_head(src);  // rare: a frame head waiting for its payload
      }
      break;
    }
    if (r == FrameCodec::Next::protocol_error) {
      fail(src, close_code::protocol_error, "invalid frame header");
      break;
    }
    if (!relay_chunk(src, dst, chunk)) {
      break;
    }
  }
  src.codec->discard_input();
}

}  // namespace wsgate::worker
