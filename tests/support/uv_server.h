// The libuv skeleton the test servers (the echo backend and the feed source)
// stand on: one loop, one listener, SIGTERM/SIGINT, a registry of live
// connections whose ended members are destroyed from the loop's check phase
// (never inside one of their own callbacks), and the stop sequence: stop
// accepting, say goodbye to every peer, wait up to 1 s for the replies, end
// what is left, and return from run() once every handle is closed.
//
// Written once so that both servers stop, log and report their port the same
// way; what a connection does is theirs.
#pragma once

#include <uv.h>

#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tests/support/uv_owner.h"

namespace wsgate::test {

struct ListenAddress {
  std::string host = "127.0.0.1";  // IPv6 without brackets
  std::uint16_t port = 0;
};

// "127.0.0.1:0" or "[::1]:9000"; false when `arg` is neither.
bool parse_listen_address(std::string_view arg, ListenAddress& out);

// Benchmarks hold 10,000+ connections: take the whole hard limit.
void raise_fd_limit();

// The handles and the stop sequence; what to do with a connection is asked of
// the subclass (ConnectionServer below).
class UvServer {
 public:
  // `program` and `name` prefix every log line: "program[name]: ...".
  UvServer(std::string program, std::string name);
  UvServer(const UvServer&) = delete;
  UvServer& operator=(const UvServer&) = delete;

  // Listens, prints "listening on HOST:PORT" (tests and scripts parse it to
  // learn the port when it was 0), serves until SIGTERM/SIGINT. Returns the
  // process exit code.
  int run(const ListenAddress& where);

  uv_loop_t* loop() { return loop_.get(); }
  bool stopping() const { return stopping_; }
  // Shared by all connections: a read is fully processed before the next one
  // starts, and idle connections then hold no buffer (10,000+ per process).
  uv_buf_t read_buffer();
  void log(std::string_view what) const;

 protected:
  ~UvServer();
  // The listener has a connection waiting.
  virtual void accept_from(uv_stream_t* listener) = 0;
  // Stop signal `signum`: the listener and the signals are closed; ask every
  // peer to close.
  virtual void say_goodbye(int signum) = 0;
  // The stop wait is over: end every connection left.
  virtual void end_all() = 0;
  // The check phase: destroy the connections that ended.
  virtual void reap() = 0;
  // Called by the subclass when its last connection is gone: once stopping,
  // that closes the last handle and run() returns.
  void finish_stop_if(bool idle);

 private:
  static void on_connection(uv_stream_t* listener, int status);
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_stop_timer(uv_timer_t* timer);
  static void on_check(uv_check_t* check);

  bool listen(const ListenAddress& where);
  bool watch_signals();
  void stop(int signum);

  std::string program_;
  std::string name_;
  UvLoop loop_;  // declared first: must outlive every handle below
  UvHandle<uv_tcp_t> listener_;
  UvHandle<uv_signal_t> sigterm_;
  UvHandle<uv_signal_t> sigint_;
  UvHandle<uv_timer_t> stop_timer_;  // the 1 s wait for close replies
  UvHandle<uv_check_t> reaper_;      // destroys ended connections
  std::vector<char> read_buf_;
  bool stopping_ = false;
};

// A UvServer of connections of type Conn, which must offer
//   bool start(uv_stream_t* listener);  // accept; false: call end()
//   void go_away();                     // close politely (1001)
//   void end();                         // close now; calls retire(this)
// `make` builds the next connection (it usually passes the owning server);
// `on_stop` runs first on a stop signal (to log, or to stop the owner's timers).
template <class Conn>
class ConnectionServer final : public UvServer {
 public:
  ConnectionServer(std::string program, std::string name, std::function<std::unique_ptr<Conn>()> make,
                   std::function<void(int signum)> on_stop = {})
      : UvServer(std::move(program), std::move(name)), make_(std::move(make)), on_stop_(std::move(on_stop)) {}
  // Connections close their handles as they go; the loop (UvServer's, which
  // outlives this) then runs the close callbacks.
  ~ConnectionServer() {
    live_.clear();
    retired_.clear();
  }

  // Takes an ended connection out of the registry; it is destroyed from the
  // loop's check phase.
  void retire(Conn* c) {
    const auto it = live_.find(c);
    assert(it != live_.end() && "retiring a connection that is not registered");
    retired_.push_back(std::move(it->second));
    live_.erase(it);
    finish_stop_if(live_.empty());
  }

  std::size_t size() const { return live_.size(); }
  // A snapshot: ending a connection takes it out of the registry.
  std::vector<Conn*> all() const {
    std::vector<Conn*> out;
    out.reserve(live_.size());
    for (const auto& entry : live_) out.push_back(entry.first);
    return out;
  }

 private:
  void accept_from(uv_stream_t* listener) override {
    std::unique_ptr<Conn> c = make_();
    Conn* raw = c.get();
    live_.emplace(raw, std::move(c));
    if (!raw->start(listener)) raw->end();
  }
  void say_goodbye(int signum) override {
    if (on_stop_) on_stop_(signum);
    for (Conn* c : all()) c->go_away();
    finish_stop_if(live_.empty());
  }
  void end_all() override {
    for (Conn* c : all()) c->end();  // retire() keeps them alive until the check phase
    finish_stop_if(live_.empty());
  }
  void reap() override { retired_.clear(); }

  std::function<std::unique_ptr<Conn>()> make_;
  std::function<void(int)> on_stop_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> live_;
  std::vector<std::unique_ptr<Conn>> retired_;
};

}  // namespace wsgate::test
