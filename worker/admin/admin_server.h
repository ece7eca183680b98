// The admin endpoint: a worker role the master forks when the config has
// `admin:`. It serves GET /metrics (Prometheus text) and GET /status (the
// JSON of `wsgate status --json`) on its own libuv loop, reading the shared
// tables only: a scrape never waits on a proxy worker. There is no
// authentication: keep `admin` on loopback (or a management network).
#pragma once

#include <cstdint>

#include "conf/config.h"
#include "shm/layout.h"
#include "shm/stream_layout.h"

namespace wsgate::worker {

struct AdminArgs {
  const conf::Config* config = nullptr;
  shm::Table* table = nullptr;
  shm::StreamsHeader* streams = nullptr;  // may be null: no streams configured
  uint32_t slot = 0;
  uint32_t generation = 1;
  int listen_fd = -1;        // bound and listening, opened by the master
  int master_alive_fd = -1;  // read end of a pipe the master holds open: EOF = master died
};

// Runs until SIGTERM/SIGINT or the master's death; returns kExitOk, or
// kExitFatal (worker/net/exit_codes.h) when it cannot set up.
int run_admin(const AdminArgs& args);

}  // namespace wsgate::worker
