// Runtime control of the backends of a running instance, through the shared
// table only: drain a backend (no new sessions, its sessions moved off at a
// paced rate), undrain it, and rebalance the pools (move sessions off
// over-loaded backends until each is within 10% of its weighted fair share).
//
// The operator's side (`wsgate drain|undrain|rebalance`, the admin endpoint,
// the master for a backend removed by a reload) calls start_* / cancel_*;
// every proxy worker polls (worker/edge/drainer.cpp) and moves its own sessions,
// taking turns from one GCRA per operation, so the pace is global.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shm/layout.h"

namespace wsgate::shm {

// Sessions per second moved when the operator gives no rate.
inline constexpr uint32_t kDefaultMoveRate = 50;
inline constexpr uint32_t kMaxMoveRate = 100000;
// A backend is over-loaded above its fair share plus this much (10%).
inline constexpr double kFairShareTolerance = 0.10;

// --- lookup ---
// "POOL/HOST:PORT", or "HOST:PORT" when only one pool has that address.
// nullopt with `err` saying why (unknown, ambiguous).
std::optional<uint32_t> find_backend(const Table& t, std::string_view name, std::string& err);

// --- the operator's side ---
// Marks the backend draining (routing skips it from now on) and moves its
// sessions off at `rate_per_s` over all workers. Again on a draining
// backend: restarts the drain with the new rate. False with `err` on a bad
// index or rate.
// `as` is draining (an operator's) or removed (a reload's: the backend is
// gone from the config; see BackendState).
bool start_drain(Table& t, uint32_t backend, uint32_t rate_per_s, std::string& err,
                 BackendState as = BackendState::draining);
// A backend drained of its sessions: draining or removed.
inline bool is_drained_state(uint32_t admin_state) {
  return admin_state == static_cast<uint32_t>(BackendState::draining) ||
         admin_state == static_cast<uint32_t>(BackendState::removed);
}
// Back to up: routable again; sessions not yet moved stay where they are.
bool cancel_drain(Table& t, uint32_t backend, std::string& err);
// Starts moving sessions off over-loaded backends of every pool at
// `rate_per_s`; it stops by itself once every pool is within 10% (or after
// moving the excess it found at the start, or at a deadline). When nothing
// is over-loaded it is done at once. Replaces a rebalance still running.
bool start_rebalance(Table& t, uint32_t rate_per_s, std::string& err);
bool cancel_rebalance(Table& t, std::string& err);

// --- progress (readers: status, the CLI, the admin endpoint) ---
struct DrainProgress {
  bool draining = false;
  uint32_t rate = 0;
  int64_t sessions_left = 0;
  int64_t initial = 0;
  uint64_t moved = 0;
  int64_t elapsed_ms = 0;
};
DrainProgress drain_progress(const Table& t, uint32_t backend);

struct RebalanceProgress {
  RebalanceState state = RebalanceState::idle;
  uint32_t rate = 0;
  uint64_t moved = 0;
  int64_t planned = 0;     // excess sessions found at the start
  int64_t elapsed_ms = 0;  // to now, or to when it finished
};
RebalanceProgress rebalance_progress(const Table& t);
const char* rebalance_state_name(RebalanceState s);

// A pool's routable backends and their weighted fair shares:
// fair = (sessions over them) * weight / (weight over them).
struct Share {
  uint32_t backend = 0;
  int64_t sessions = 0;
  double fair = 0;
  int64_t excess = 0;   // sessions above ceil(fair * 1.1); 0 when within
  int64_t deficit = 0;  // sessions missing below floor(fair * 0.9); 0 when within
  int64_t surplus = 0;  // sessions above ceil(fair), within the 10% or not
};
std::vector<Share> pool_shares(const Table& t, uint32_t pool, int64_t now_ms);
// Every share within 10% of its fair share, above and below.
bool balanced(const std::vector<Share>& shares);
// How many sessions a rebalance moves off this backend now: its excess
// first; once no backend is above the band, its surplus while another
// backend of the pool is still below it.
int64_t to_move(const Share& s, const std::vector<Share>& pool);

// --- the workers' side ---
// May this worker move one more session off `backend` now (drain pace)?
bool take_drain_turn(Table& t, uint32_t backend, int64_t now_ns);
void count_drain_move(Table& t, uint32_t backend);
// The same for a rebalance of `pool`: its pace and the pool's budget.
bool take_rebalance_turn(Table& t, uint32_t pool, int64_t now_ns);
void count_rebalance_move(Table& t);
// Ends a running rebalance that should stop (balanced, budget spent,
// deadline); true while it is still running.
bool settle_rebalance(Table& t, int64_t now_ms);

}  // namespace wsgate::shm
