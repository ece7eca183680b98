#include "shm/slot_table.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "shm/ip_table.h"
#include "shm/session_counts.h"

namespace wsgate::shm {

constexpr auto kRelaxed = std::memory_order_relaxed;

void SlotTable::set_count(uint32_t n) {
  if (n > kMaxSlots) {
    throw std::length_error("more than " + std::to_string(kMaxSlots) + " worker slots");
  }
  t_->header.slot_count.store(n, std::memory_order_release);
}

void SlotTable::claim(uint32_t slot, int pid, SlotRole role, uint32_t generation) {
  WorkerSlot& s = t_->slots[slot];
  s.role.store(static_cast<uint32_t>(role), kRelaxed);
  s.generation.store(generation, kRelaxed);
  s.pid.store(pid, std::memory_order_release);
}

void SlotTable::add_connection(uint32_t slot, int32_t delta) {
  t_->slots[slot].connections.fetch_add(static_cast<uint32_t>(delta), kRelaxed);
}

void SlotTable::clear(uint32_t slot) {
  SessionCounts(*t_).clear_slot(slot);
  WorkerSlot& s = t_->slots[slot];
  s.connections.store(0, kRelaxed);
  s.pid.store(0, std::memory_order_release);
  IpTable(t_->ips).clear_slot(slot);  // its clients' per-IP connection counts died with it too
}

void SlotTable::release(uint32_t slot) {
  clear(slot);
  WorkerSlot& s = t_->slots[slot];
  s.role.store(static_cast<uint32_t>(SlotRole::none), kRelaxed);
  s.generation.store(0, kRelaxed);
  s.drain_deadline_ms.store(0, kRelaxed);
}

void SlotTable::note_respawn(uint32_t slot) { t_->slots[slot].respawns.fetch_add(1, kRelaxed); }

uint32_t SlotTable::count() const { return std::min(t_->header.slot_count.load(std::memory_order_acquire), kMaxSlots); }

}  // namespace wsgate::shm
