// The feed source's listener, channels, emission timer and control surface.
//
// A channel is the request target (without the query) of the upgrades that
// joined it. While it has members, a 1 ms timer works out from the clock how
// many of its messages are due (so rates far above 1000/s work) and writes
// each to every member. Its sequence number lives as long as the process:
// members come and go, the count goes on, and it only advances while someone
// listens.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/feed_connection.h"
#include "tests/support/feed_message.h"
#include "tests/support/uv_owner.h"
#include "tests/support/tls_context.h"
#include "tests/support/uv_server.h"

namespace wsgate::test {

struct FeedOptions {
  ListenAddress listen;
  std::string name;
  std::uint64_t rate = 100;  // messages per second per channel; 0 = none
  std::size_t size = 128;    // bytes per message (>= kMinFeedMessageSize)
  std::uint64_t count = 0;   // messages per channel, then stop; 0 = no limit
  bool quiet = false;        // no per-connection lines; errors are always logged
  // Both set: a connection whose first byte opens a TLS record is served
  // over TLS (wss); others stay plain, so /_stats works without TLS.
  std::string tls_cert, tls_key;
};

class FeedServer {
 public:
  // Messages recorded for /_stats; later ones are only counted, so a long
  // benchmark cannot grow the process without bound.
  static constexpr std::size_t kMaxRecorded = 10000;

  explicit FeedServer(FeedOptions options);
  FeedServer(const FeedServer&) = delete;
  FeedServer& operator=(const FeedServer&) = delete;

  // Listens, prints "listening on HOST:PORT", serves until SIGTERM/SIGINT.
  // Returns the process exit code.
  int run();

  // For connections.
  uv_loop_t* loop() { return server_.loop(); }
  const std::string& name() const { return options_.name; }
  bool quiet() const { return options_.quiet; }
  bool stopping() const { return server_.stopping(); }
  uv_buf_t read_buffer() { return server_.read_buffer(); }
  // The TLS context (null: plain only) and the buffer TLS reads decrypt into.
  SSL_CTX* tls() const { return tls_.get(); }
  std::span<std::uint8_t> plain_buffer() { return plain_buf_; }
  void count_tls_handshake(bool resumed) {
    ++tls_handshakes_;
    tls_resumed_ += resumed ? 1 : 0;
  }
  void note_authorization(std::string value) { last_authorization_ = std::move(value); }
  // A WebSocket opened on `channel`: it receives the channel's messages from
  // now on. Returns its connection id (1, 2, ... in order of upgrade).
  std::uint64_t join(FeedConnection* c, const std::string& channel);
  // The WebSocket no longer takes messages (closing, failed or gone).
  void leave(FeedConnection* c, const std::string& channel);
  // A text or binary message a client sent.
  void record(std::uint64_t conn, const std::string& channel, std::string text);
  std::string stats_json() const;
  void count_slow_drop() { ++slow_drops_; }
  // Closes every WebSocket at once, without a close frame (RST).
  void drop_all();
  // Takes an ended connection out of the registry; it is destroyed from the
  // loop's check phase, never inside one of its own callbacks.
  void retire(FeedConnection* c) { server_.retire(c); }
  void log(std::string_view what) const { server_.log(what); }

 private:
  struct Channel {
    Channel(const std::string& path, const FeedOptions& o) : formatter(path, o.name, o.size) {}
    std::vector<FeedConnection*> members;
    std::uint64_t seq = 0;       // last message sent
    std::uint64_t base_ns = 0;   // start of the current run (members > 0)
    std::uint64_t base_seq = 0;  // messages due at base_ns
    bool behind_logged = false;
    FeedFormatter formatter;
  };
  struct Received {
    std::uint64_t conn;
    std::string channel, text;
  };

  static void on_tick(uv_timer_t* timer);

  bool active(const Channel& ch) const;
  void start_ticking();
  void tick();
  std::uint64_t emit(const std::string& path, Channel& ch, std::uint64_t now);
  void on_stop(int signum);

  FeedOptions options_;
  ConnectionServer<FeedConnection> server_;  // declared first: its loop outlives tick_
  UvHandle<uv_timer_t> tick_;
  bool ticking_ = false;
  std::map<std::string, Channel> channels_;  // ordered: stable /_stats output
  std::vector<Received> received_;
  std::uint64_t received_total_ = 0;
  std::uint64_t connections_total_ = 0;
  std::uint64_t connections_open_ = 0;
  std::uint64_t slow_drops_ = 0;          // subscribers dropped for falling behind
  std::uint64_t tls_handshakes_ = 0;      // completed, and of those resumed
  std::uint64_t tls_resumed_ = 0;
  std::string last_authorization_;        // of the last upgrade: tests check what a gateway sent
  SslCtxPtr tls_;
  std::vector<std::uint8_t> plain_buf_;
  std::string batch_;                     // one tick's frames for one channel, reused
  std::vector<FeedConnection*> targets_;  // the members a tick writes to, reused
};

}  // namespace wsgate::test
