// The echo backend's server: its options and what its sessions ask of it;
// the listener, signals and session registry are the shared UvServer's.
#pragma once

#include <uv.h>

#include <cstdint>
#include <span>
#include <vector>
#include <string>
#include <string_view>

#include "tests/support/backend_session.h"
#include "tests/support/tls_context.h"
#include "tests/support/uv_server.h"

namespace wsgate::test {

struct ServerOptions {
  ListenAddress listen;
  std::string name;
  bool quiet = false;  // no per-session lines; errors are always logged
  std::string tls_cert, tls_key;  // both set: every connection is TLS (wss)
};

class EchoServer {
 public:
  // Throws std::runtime_error when the TLS certificate or key is bad.
  explicit EchoServer(ServerOptions options);
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // Listens, prints "listening on HOST:PORT", serves until SIGTERM/SIGINT.
  // Returns the process exit code.
  int run() { return server_.run(options_.listen); }

  // For sessions.
  uv_loop_t* loop() { return server_.loop(); }
  const std::string& name() const { return options_.name; }
  bool quiet() const { return options_.quiet; }
  bool stopping() const { return server_.stopping(); }
  uv_buf_t read_buffer() { return server_.read_buffer(); }
  std::size_t live_sessions() const { return live_; }
  void session_opened() { ++live_; }
  void session_closed() { --live_; }
  // Takes an ended session out of the registry; it is destroyed from the
  // loop's check phase, never inside one of its own callbacks.
  void retire(Session* session) { server_.retire(session); }
  void log(std::string_view what) const { server_.log(what); }
  // The TLS context when serving wss (null: plain ws), and the buffer every
  // TLS session decrypts into (a read is handled whole before the next).
  SSL_CTX* tls() const { return tls_.get(); }
  std::span<std::uint8_t> plain_buffer() { return plain_buf_; }

 private:
  void on_stop(int signum);

  ServerOptions options_;
  std::size_t live_ = 0;  // sessions past their handshake
  SslCtxPtr tls_;
  std::vector<std::uint8_t> plain_buf_;
  ConnectionServer<Session> server_;
};

}  // namespace wsgate::test
