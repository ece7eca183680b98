#include "shm/session_counts.h"

#include <cassert>

#include "shm/slot_table.h"

namespace wsgate::shm {

constexpr auto kRelaxed = std::memory_order_relaxed;

void SessionCounts::add(uint32_t slot, uint32_t backend, int32_t delta) {
  assert(slot < kMaxSlots && backend < kMaxBackends);
  auto& cell = t_->rows[slot].sessions[backend];
  [[maybe_unused]] int32_t before = cell.fetch_add(delta, kRelaxed);
  assert(before + delta >= 0 && "session count went negative: a close was counted twice");
}

void SessionCounts::clear_slot(uint32_t slot) {
  for (auto& cell : t_->rows[slot].sessions) {
    cell.store(0, kRelaxed);
  }
}

int64_t SessionCounts::total(uint32_t backend) const {
  int64_t sum = 0;
  const uint32_t slots = SlotTable(*t_).count();
  for (uint32_t s = 0; s < slots; ++s) {
    sum += t_->rows[s].sessions[backend].load(kRelaxed);
  }
  return sum;
}

int32_t SessionCounts::in_slot(uint32_t slot, uint32_t backend) const {
  return t_->rows[slot].sessions[backend].load(kRelaxed);
}

}  // namespace wsgate::shm
