// wsgate-echo-backend: a standalone WebSocket echo server for integration
// tests and benchmarks. Usage:
//   wsgate-echo-backend --listen HOST:PORT --name NAME [--quiet]
// See backend_session.h for the behaviour and backend_handshake.h /
// backend_commands.h for the modes and special messages.
#include <sys/resource.h>

#include <charconv>
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
  std::fprintf(stderr, "usage: wsgate-echo-backend --listen HOST:PORT --name NAME [--quiet]\n");
}

// "127.0.0.1:0" or "[::1]:9000".
bool parse_listen(std::string_view arg, ServerOptions& out) {
  const std::size_t colon = arg.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = arg.substr(0, colon);
  const std::string_view port = arg.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size())
    return false;
  out.host = std::string(host);
  return true;
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
      if (!parse_listen(argv[++i], o)) return std::nullopt;
      have_listen = true;
    } else if (a == "--name" && has_value) {
      o.name = argv[++i];
    } else {
      return std::nullopt;
    }
  }
  if (!have_listen || o.name.empty()) return std::nullopt;
  return o;
}

// Benchmarks hold 10,000+ connections: take the whole hard limit.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) std::perror("setrlimit(RLIMIT_NOFILE)");
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error code, not a death
  raise_fd_limit();
  try {
    wsgate::test::EchoServer server(*options);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-echo-backend[%s]: fatal: %s\n", options->name.c_str(), e.what());
    return 1;
  }
}
