// The process slots of the shared Table (shm/layout.h WorkerSlot), with what
// dies with a slot's process: its sessions' row, its connection count and its
// column of per-IP counts. Its metrics row outlives it. Who may call what is
// stated per function.
#pragma once

#include <cstdint>

#include "shm/layout.h"

namespace wsgate::shm {

class SlotTable {
 public:
  explicit SlotTable(Table& table) : t_(&table) {}

  // --- master, before workers exist ---
  // Throws std::length_error past kMaxSlots.
  void set_count(uint32_t n);

  // --- the process in `slot` ---
  // The end of its start-up: from now on the master counts it as up.
  void claim(uint32_t slot, int pid, SlotRole role, uint32_t generation);
  void add_connection(uint32_t slot, int32_t delta);
  // The slot's counters for /metrics (shm/metrics_layout.h): written by that
  // process alone, never zeroed.
  MetricsRow& metrics_row(uint32_t slot) { return t_->metrics[slot]; }
  const MetricsRow& metrics_row(uint32_t slot) const { return t_->metrics[slot]; }

  // --- master, after the process in `slot` is gone ---
  // Zeroes the slot's sessions, connection count and per-IP counts.
  void clear(uint32_t slot);
  // clear(), and the slot is no one's any more (a retired generation's).
  void release(uint32_t slot);
  void note_respawn(uint32_t slot);

  // --- readers ---
  uint32_t count() const;
  const WorkerSlot& slot(uint32_t i) const { return t_->slots[i]; }

 private:
  Table* t_;
};

}  // namespace wsgate::shm
