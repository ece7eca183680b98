#include "tests/support/backend_server.h"

#include <memory>
#include <stdexcept>
#include <utility>

namespace wsgate::test {

EchoServer::EchoServer(ServerOptions options)
    : options_(std::move(options)),
      server_(
          "wsgate-echo-backend", options_.name, [this] { return std::make_unique<Session>(*this); },
          [this](int signum) { on_stop(signum); }) {
  if (options_.tls_cert.empty() && options_.tls_key.empty()) return;
  std::string error;
  tls_ = make_tls_server_context(options_.tls_cert, options_.tls_key, error);
  if (!tls_) throw std::runtime_error(error);
  plain_buf_.resize(64 * 1024);
}

// Sessions then close with 1001 and get 1 s for the peer's reply.
void EchoServer::on_stop(int signum) {
  if (!options_.quiet)
    log("signal " + std::to_string(signum) + ": closing " + std::to_string(server_.size()) + " sessions with 1001");
}

}  // namespace wsgate::test
