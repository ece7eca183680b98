// wsgate-echo-backend: a standalone WebSocket echo server for integration
// tests and benchmarks. Usage:
//   wsgate-echo-backend --listen HOST:PORT --name NAME [--quiet] [--tls-cert PEM --tls-key PEM]
// With --tls-cert/--tls-key it serves wss (TLS 1.2/1.3, tickets on): the
// "direct wss server" of scripts/bench, or a wss upstream.
// See backend_session.h for the behaviour and backend_handshake.h /
// backend_commands.h for the modes and special messages.
#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/backend_server.h"

namespace {

using wsgate::test::ServerOptions;

void usage() {
  std::fprintf(stderr,
               "usage: wsgate-echo-backend --listen HOST:PORT --name NAME [--quiet] [--tls-cert PEM --tls-key PEM]\n");
}

std::optional<ServerOptions> parse_args(int argc, char** argv) {
  ServerOptions o;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--listen" && has_value) {
      if (!wsgate::test::parse_listen_address(argv[++i], o.listen)) return std::nullopt;
      have_listen = true;
    } else if (a == "--name" && has_value) {
      o.name = argv[++i];
    } else if (a == "--tls-cert" && has_value) {
      o.tls_cert = argv[++i];
    } else if (a == "--tls-key" && has_value) {
      o.tls_key = argv[++i];
    } else {
      return std::nullopt;
    }
  }
  if (!have_listen || o.name.empty() || o.tls_cert.empty() != o.tls_key.empty()) return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error code, not a death
  wsgate::test::raise_fd_limit();
  try {
    wsgate::test::EchoServer server(*options);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-echo-backend[%s]: fatal: %s\n", options->name.c_str(), e.what());
    return 1;
  }
}
