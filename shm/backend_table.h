// Operations on the shared Table: who may call what is stated per function;
// shm/layout.h explains why each field has the writers it has.
#pragma once

#include <cstdint>
#include <string_view>

#include "shm/layout.h"

namespace wsgate::shm {

// CLOCK_MONOTONIC in milliseconds: the same clock in every process, so a
// "down until" deadline written by one worker means the same to the others.
int64_t monotonic_ms();

class BackendTable {
 public:
  explicit BackendTable(Table& table) : t_(&table) {}

  // --- master, before workers exist ---
  // Appends a backend and returns its index. Throws std::length_error past kMaxBackends.
  uint32_t add_backend(std::string_view pool, std::string_view address, uint32_t weight);
  void set_slot_count(uint32_t n);

  // --- the process in `slot` ---
  void claim_slot(uint32_t slot, int pid, SlotRole role, uint32_t generation);
  void add_session(uint32_t slot, uint32_t backend, int32_t delta);
  void add_connection(uint32_t slot, int32_t delta);

  // --- master, after the process in `slot` is gone ---
  // Zeroes the slot's row and connection count: its sessions died with it.
  void clear_slot(uint32_t slot);
  void note_respawn(uint32_t slot);

  // --- any worker: passive health ---
  // A failed dial or upgrade: skip the backend for `fail_timeout_ms` (0 = never).
  void record_failure(uint32_t backend, int64_t now_ms, int64_t fail_timeout_ms);
  void record_success(uint32_t backend);

  // --- readers (workers, `wsgate status`) ---
  uint32_t backend_count() const;
  uint32_t slot_count() const;
  const BackendEntry& backend(uint32_t i) const { return t_->backends[i]; }
  const WorkerSlot& slot(uint32_t i) const { return t_->slots[i]; }
  // A backend's load: the sum of its column over every slot.
  int64_t sessions(uint32_t backend) const;
  int32_t sessions_in_slot(uint32_t slot, uint32_t backend) const;
  // Routable: administratively up and not within a passive "down" window.
  bool available(uint32_t backend, int64_t now_ms) const;
  // How long until a passively-down backend is tried again (0 when available).
  int64_t down_for_ms(uint32_t backend, int64_t now_ms) const;

 private:
  Table* t_;
};

}  // namespace wsgate::shm
