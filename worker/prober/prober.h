// The health prober: a worker role the master forks into the slot after the
// proxy workers when any pool has `health`. It checks every backend of those
// pools on its own libuv loop (created after fork) and writes each result,
// and each up/down transition, into the shared table, where every proxy
// worker routes on it at once.
#pragma once

#include <cstdint>

#include "conf/config.h"
#include "shm/layout.h"

namespace wsgate::worker {

struct ProberArgs {
  const conf::Config* config = nullptr;
  shm::Table* table = nullptr;
  uint32_t slot = 0;
  uint32_t generation = 1;
  int master_alive_fd = -1;  // read end of a pipe the master holds open: EOF = master died
};

// Runs until SIGTERM/SIGINT or the master's death; returns kExitOk, or
// kExitFatal (worker/net/exit_codes.h) when it cannot set up.
int run_prober(const ProberArgs& args);

}  // namespace wsgate::worker
