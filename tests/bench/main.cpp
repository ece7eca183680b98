// wsgate-bench-client: a single-threaded libuv WebSocket load client for
// scripts/bench. See options.cpp for the command line and runner.h for the
// output. Every echoed byte is verified, so a broken proxy cannot score.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include "tests/bench/options.h"
#include "tests/bench/runner.h"

namespace {

// 10,000+ connections per process: take the whole hard limit.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) std::perror("setrlimit(RLIMIT_NOFILE)");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wsgate::bench;
  const auto options = parse_options(argc, argv);
  if (!options) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  std::unique_ptr<Runner> runner;
  switch (options->mode) {
    case Mode::kEcho: runner = make_echo_runner(*options); break;
    case Mode::kHandshake: runner = make_handshake_runner(*options); break;
    case Mode::kIdle: runner = make_idle_runner(*options); break;
    case Mode::kSubscribe: runner = make_subscribe_runner(*options); break;
  }
  return runner->run();
}
