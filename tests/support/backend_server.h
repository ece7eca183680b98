// The echo backend's listener, signal handling and session registry.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tests/support/backend_session.h"
#include "tests/support/uv_owner.h"

namespace wsgate::test {

struct ServerOptions {
  std::string host = "127.0.0.1";  // IPv6 without brackets
  std::uint16_t port = 0;
  std::string name;
  bool quiet = false;  // no per-session lines; errors are always logged
};

class EchoServer {
 public:
  explicit EchoServer(ServerOptions options);
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  ~EchoServer();

  // Listens, prints "listening on HOST:PORT", serves until SIGTERM/SIGINT.
  // Returns the process exit code.
  int run();

  // For sessions.
  uv_loop_t* loop() { return loop_.get(); }
  const std::string& name() const { return options_.name; }
  bool quiet() const { return options_.quiet; }
  bool stopping() const { return stopping_; }
  uv_buf_t read_buffer();
  std::size_t live_sessions() const { return live_; }
  void session_opened() { ++live_; }
  void session_closed() { --live_; }
  // Takes an ended session out of the registry; it is destroyed from the
  // loop's check phase, never inside one of its own callbacks.
  void retire(Session* session);
  void log(std::string_view what) const;

 private:
  static void on_connection(uv_stream_t* listener, int status);
  static void on_signal(uv_signal_t* handle, int signum);
  static void on_stop_timer(uv_timer_t* timer);
  static void on_check(uv_check_t* check);

  bool listen();
  bool watch_signals();
  void accept_one();
  void stop(int signum);
  void end_all_sessions();
  void finish_stop_if_idle();

  ServerOptions options_;
  UvLoop loop_;  // declared first: must outlive every handle below
  UvHandle<uv_tcp_t> listener_;
  UvHandle<uv_signal_t> sigterm_;
  UvHandle<uv_signal_t> sigint_;
  UvHandle<uv_timer_t> stop_timer_;  // the 1 s wait for close replies
  UvHandle<uv_check_t> reaper_;      // destroys retired sessions
  std::unordered_map<Session*, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> retired_;
  // Shared by all sessions: a read is fully processed before the next one
  // starts, and idle sessions then hold no buffer (10,000+ per process).
  std::vector<char> read_buf_;
  std::size_t live_ = 0;
  bool stopping_ = false;
};

}  // namespace wsgate::test
