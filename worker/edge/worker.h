// A proxy worker process: one libuv loop, created after fork(), serving the
// listening sockets the master opened for this worker's slot.
#pragma once

#include <cstdint>
#include <vector>

#include "conf/config.h"
#include "shm/channel_table.h"
#include "shm/config_blob.h"
#include "shm/layout.h"
#include "worker/net/exit_codes.h"

namespace wsgate::worker {

struct WorkerArgs {
  const conf::Config* config = nullptr;
  shm::Table* table = nullptr;
  // The config text the master published last: pools, backends and limits
  // changed by a reload reach a running worker through it.
  const shm::ConfigBlob* blob = nullptr;
  uint32_t slot = 0;
  uint32_t generation = 1;
  std::vector<int> listen_fds;  // this slot's SO_REUSEPORT sockets, already listening
  std::vector<uint32_t> listen_entries;  // for each of listen_fds, its index in config->listen
  // TLS listeners: the certificates the master published, and the shared
  // session ticket keys (master/launch.h TlsBlobs).
  const shm::ConfigBlob* tls_blob = nullptr;
  const shm::ConfigBlob* ticket_blob = nullptr;
  int master_alive_fd = -1;     // read end of a pipe the master holds open: EOF = master died
  // Fan-out streams (null header: none configured).
  shm::StreamsHeader* streams = nullptr;
  std::vector<shm::ChannelRange> stream_ranges;
  int stream_wake_fd = -1;  // this slot's eventfd, written by the feeder
  int feeder_wake_fd = -1;  // the feeder's eventfd
};

int run_worker(const WorkerArgs& args);

}  // namespace wsgate::worker
