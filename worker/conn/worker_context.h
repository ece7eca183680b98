// What every session of one proxy worker shares: the loop, the config, the
// shared table, this worker's slot, the buffer pool and the read buffer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_set>
#include <vector>

#include "conf/config.h"
#include "shm/backend_table.h"
#include "worker/net/buffer_pool.h"
#include "worker/net/random_bytes.h"
#include "worker/net/tcp_conn.h"
#include "worker/ws/frame_codec.h"

namespace wsgate::worker {

class Session;
class StreamHub;

// Per pool, per worker: which shm rows its backends are, and the
// round-robin state (h2o/nginx keep the same per process).
struct PoolRuntime {
  std::vector<uint32_t> backend_ids;        // shm index of each conf backend, same order
  std::vector<sockaddr_storage> addresses;  // resolved once: the hot path never parses
  uint32_t cursor = 0;
  std::vector<int64_t> rr_scores;
};

// The config a worker runs with, and its pools mapped onto the shared table.
// A reload that changes pools or limits in place swaps in a new one; every
// session keeps the one it started with alive (it points into it), so the
// old one goes with the last session that uses it.
struct LiveConfig {
  std::shared_ptr<const conf::Config> config;
  std::vector<PoolRuntime> pools;  // same order as config->pools
};

struct WorkerContext {
  uv_loop_t* loop = nullptr;
  // live->config: the latest config, for worker-wide settings. A running
  // connection reads its limits from the snapshot it started with, never here.
  const conf::Config* config = nullptr;
  std::shared_ptr<LiveConfig> live;
  shm::BackendTable table;
  uint32_t slot = 0;
  BufferPool buffers;
  FrameContextPool client_frames{fill_random};   // contexts that send unmasked (toward clients)
  FrameContextPool backend_frames{fill_random};  // contexts that send masked (toward backends)
  std::vector<uint8_t> read_storage = std::vector<uint8_t>(64 * 1024);
  StreamHub* hub = nullptr;  // null when the config has no streams
  // The config's auth blocks, with keys this worker may re-read on SIGHUP
  // (Config itself is shared read-only with the parent's image).
  std::vector<conf::Auth> auths;
  bool stopping = false;
  // Relaying sessions per shm backend id, so a backend found down reaches
  // exactly the sessions it carried.
  std::vector<std::unordered_set<Session*>> relaying_on;
  uint64_t sessions_moved = 0;
  uint64_t messages_dropped = 0;
  uint64_t keepalive_pings = 0;  // numbers wsgate's own pings ("wsgate keepalive N")
  // TLS handshake failures are logged once a second at most (intake.cpp).
  uint64_t tls_failure_logged_ms = 0;
  uint64_t tls_failures_unlogged = 0;

  ReadBuffer read_buffer() { return ReadBuffer{read_storage.data(), read_storage.size()}; }

  // The whole segment, for the tables BackendTable does not cover (per-IP
  // limits, runtime control).
  shm::Table* shm = nullptr;

  explicit WorkerContext(shm::Table& t) : table(t), shm(&t) {}
};

}  // namespace wsgate::worker
