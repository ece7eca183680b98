// Runtime control in shared memory: drains and rebalances started by
// `wsgate drain` / `wsgate rebalance` (or the admin endpoint) and carried out
// by every proxy worker at one shared pace. Plain types only, like
// shm/layout.h, which holds one of these in its Table; shm/backend_control.h
// has the operations.
//
// Ownership of writes:
//   BackendControl drain fields, RebalanceControl setup -> the operator's
//       command (CLI, admin endpoint, the master on reload), then published
//       by a release store (BackendEntry::admin_state, RebalanceControl::state)
//   *tat_ns                 -> any worker, by CAS (the shared pace)
//   moved counters, budget  -> any worker (relaxed adds)
//   RebalanceControl::state -> the starter (running), any worker or the
//       starter (running -> done / cancelled), by CAS
#pragma once

#include <atomic>
#include <cstdint>

namespace wsgate::shm {

// Capacities mirror shm/layout.h (kMaxBackends, kMaxPools), which includes this.
inline constexpr uint32_t kControlBackends = 512;
inline constexpr uint32_t kControlPools = 64;

struct BackendControl {
  std::atomic<uint32_t> drain_rate;       // sessions/s moved off while draining
  std::atomic<uint32_t> drain_epoch;      // bumped by every start_drain
  std::atomic<int64_t> drain_started_ms;  // CLOCK_MONOTONIC
  std::atomic<int64_t> drain_initial;     // its sessions when the drain started
  std::atomic<int64_t> drain_tat_ns;      // GCRA over all workers, CLOCK_MONOTONIC ns
  std::atomic<uint64_t> drain_moved;      // sessions closed (1012) or moved by the drain
};

enum class RebalanceState : uint32_t { idle = 0, running = 1, done = 2, cancelled = 3, expired = 4 };

struct RebalanceControl {
  std::atomic<uint32_t> state;  // RebalanceState
  std::atomic<uint32_t> rate;   // sessions/s over all workers
  std::atomic<uint32_t> epoch;  // bumped by every start
  uint32_t reserved;
  std::atomic<int64_t> started_ms;             // CLOCK_MONOTONIC
  std::atomic<int64_t> finished_ms;            // 0 while running
  std::atomic<int64_t> deadline_ms;            // gives up (expired) here if still running
  std::atomic<int64_t> tat_ns;                 // GCRA over all workers
  std::atomic<uint64_t> moved;                 // sessions closed or moved so far
  std::atomic<int64_t> planned;                // the budget it started with, over all pools
  std::atomic<int64_t> budget[kControlPools];  // per pool: sessions it may still move
};

struct ControlLayout {
  BackendControl backends[kControlBackends];
  RebalanceControl rebalance;
};

}  // namespace wsgate::shm
