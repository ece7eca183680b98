#include "tests/support/backend_server.h"

#include <memory>
#include <utility>

namespace wsgate::test {

EchoServer::EchoServer(ServerOptions options)
    : options_(std::move(options)),
      server_(
          "wsgate-echo-backend", options_.name, [this] { return std::make_unique<Session>(*this); },
          [this](int signum) { on_stop(signum); }) {}

// Sessions then close with 1001 and get 1 s for the peer's reply.
void EchoServer::on_stop(int signum) {
  if (!options_.quiet)
    log("signal " + std::to_string(signum) + ": closing " + std::to_string(server_.size()) + " sessions with 1001");
}

}  // namespace wsgate::test
