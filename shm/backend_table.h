// Operations on the shared Table's backends: who may call what is stated per
// function; shm/layout.h explains why each field has the writers it has.
// What the table holds beyond backends has its own class (slots:
// shm/slot_table.h, session counts: shm/session_counts.h, the handshake
// limiter: shm/handshake_limiter.h, the clock: shm/clock.h); the methods here
// that reach them delegate, for callers that hold a BackendTable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shm/clock.h"
#include "shm/handshake_limiter.h"
#include "shm/layout.h"
#include "shm/session_counts.h"
#include "shm/slot_table.h"

namespace wsgate::shm {

// How active checks judge a backend, from its pool's `health` config.
struct HealthPolicy {
  uint32_t rise = 0;
  uint32_t fall = 0;  // 0: no active checks; passive failures use fail_timeout instead
};

// One finished active check, as the prober saw it.
struct CheckResult {
  bool ok = false;
  int64_t rtt_us = 0;      // connect to pong; meaningful when ok
  std::string_view error;  // why it failed; meaningful when !ok
};

enum class Transition { none, went_up, went_down };

class BackendTable {
 public:
  explicit BackendTable(Table& table) : t_(&table) {}

  // --- master, before workers exist ---
  // Appends a backend (and its pool, the first time that name is seen) and
  // returns its index. Throws std::length_error past kMaxBackends or kMaxPools.
  // The master adds pools in config order, and every pool has a backend, so a
  // pool's index here is its index in conf::Config::pools.
  uint32_t add_backend(std::string_view pool, std::string_view address, uint32_t weight, HealthPolicy policy = {});
  void set_slot_count(uint32_t n) { SlotTable(*t_).set_count(n); }

  // --- master, on a reload (workers may be reading) ---
  // The row of `address` in `pool`, if it was ever added: rows are never
  // reused for another backend, so a row index stays valid in every worker.
  std::optional<uint32_t> find_backend(std::string_view pool, std::string_view address) const;
  // New weight and health policy of an existing row.
  void update_backend(uint32_t backend, uint32_t weight, HealthPolicy policy);
  // up, draining or removed (an operator's or a reload's decision).
  void set_admin_state(uint32_t backend, BackendState state);

  // --- the process in `slot` ---
  void claim_slot(uint32_t slot, int pid, SlotRole role, uint32_t generation) {
    SlotTable(*t_).claim(slot, pid, role, generation);
  }
  void add_session(uint32_t slot, uint32_t backend, int32_t delta) { SessionCounts(*t_).add(slot, backend, delta); }
  void add_connection(uint32_t slot, int32_t delta) { SlotTable(*t_).add_connection(slot, delta); }
  MetricsRow& metrics_row(uint32_t slot) { return t_->metrics[slot]; }
  const MetricsRow& metrics_row(uint32_t slot) const { return t_->metrics[slot]; }

  // --- master, after the process in `slot` is gone ---
  void clear_slot(uint32_t slot) { SlotTable(*t_).clear(slot); }
  void release_slot(uint32_t slot) { SlotTable(*t_).release(slot); }
  void note_respawn(uint32_t slot) { SlotTable(*t_).note_respawn(slot); }

  // --- any worker: passive health ---
  // A failed dial, a failed upgrade (5xx, bad 101) or a backend's TCP reset;
  // never a graceful close. Without active checks the backend is skipped for
  // `fail_timeout_ms` (0 = never). With them, the failure counts toward the
  // policy's `fall`, and reaching it takes the backend down until the prober
  // sees `rise` good checks; returns true when this call took it down.
  // `why`, when given, becomes the backend's last error.
  bool record_failure(uint32_t backend, int64_t now_ms, int64_t fail_timeout_ms, std::string_view why = {});
  void record_success(uint32_t backend);

  // --- any worker: backend handshakes of a pool, over all workers ---
  bool admit_handshake(uint32_t pool_index, uint32_t rate_per_s, int64_t now_us) {
    return HandshakeLimiter(*t_).admit(pool_index, rate_per_s, now_us);
  }

  // --- the prober ---
  // Applies one active check: counts it, and moves `health` when `rise` good
  // or `fall` failed results in a row say so.
  Transition record_check(uint32_t backend, const CheckResult& result, int64_t now_ms);

  // --- prober and workers ---
  // Replaces the last error text (cut to 95 printable ASCII characters). A
  // writer never waits: when another is writing, this text is dropped.
  bool set_last_error(uint32_t backend, std::string_view text);

  // --- readers (workers, `wsgate status`) ---
  uint32_t backend_count() const;
  uint32_t slot_count() const { return SlotTable(*t_).count(); }
  uint32_t pool_count() const;
  const BackendEntry& backend(uint32_t i) const { return t_->backends[i]; }
  const WorkerSlot& slot(uint32_t i) const { return t_->slots[i]; }
  const PoolEntry& pool(uint32_t i) const { return t_->pools[i]; }
  // A backend's load: the sum of its column over every slot.
  int64_t sessions(uint32_t backend) const { return SessionCounts(*t_).total(backend); }
  int32_t sessions_in_slot(uint32_t slot, uint32_t backend) const { return SessionCounts(*t_).in_slot(slot, backend); }
  // Routable: administratively up, health up, and not within a passive "down" window.
  bool available(uint32_t backend, int64_t now_ms) const;
  BackendState health(uint32_t backend) const;
  // How long until a passively-down backend is tried again (0 when available).
  int64_t down_for_ms(uint32_t backend, int64_t now_ms) const;
  // A consistent copy of the last error ("" when none, or when writers kept
  // it busy for every retry).
  std::string last_error(uint32_t backend) const;

 private:
  uint32_t pool_index_for(std::string_view pool);
  Table* t_;
};

}  // namespace wsgate::shm
