// The stream feeder: a worker role the master forks into the slot after the
// proxy workers (and the prober) when the config has streams. It holds one
// upstream connection per channel that has subscribers (or is always_on),
// writes every upstream message into the channel's ring as a ready-to-send
// frame, and wakes the proxy workers that subscribe to it.
#pragma once

#include <cstdint>
#include <vector>

#include "conf/config.h"
#include "shm/layout.h"
#include "shm/stream_layout.h"

namespace wsgate::worker {

struct FeederArgs {
  const conf::Config* config = nullptr;
  shm::Table* table = nullptr;
  shm::StreamsHeader* streams = nullptr;
  uint32_t slot = 0;
  uint32_t generation = 1;
  int wake_fd = -1;             // its own eventfd: a channel got its first subscriber
  std::vector<int> worker_fds;  // per proxy slot: the eventfd that wakes that worker
  int master_alive_fd = -1;
};

int run_feeder(const FeederArgs& args);

}  // namespace wsgate::worker
