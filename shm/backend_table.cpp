#include "shm/backend_table.h"

#include <time.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <stdexcept>
#include <string>

namespace wsgate::shm {

// Counters are read approximately by other processes; no ordering with other
// memory is needed, so relaxed atomics suffice everywhere here.
constexpr auto kRelaxed = std::memory_order_relaxed;

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

void copy_name(char (&dst)[kNameLen], std::string_view src) {
  if (src.size() >= kNameLen) {
    throw std::length_error("name too long for shared memory: " + std::string(src));
  }
  std::memcpy(dst, src.data(), src.size());
  dst[src.size()] = '\0';
}

}  // namespace

uint32_t BackendTable::add_backend(std::string_view pool, std::string_view address, uint32_t weight) {
  uint32_t i = t_->header.backend_count.load(kRelaxed);
  if (i >= kMaxBackends) {
    throw std::length_error("more than " + std::to_string(kMaxBackends) + " backends");
  }
  BackendEntry& b = t_->backends[i];
  copy_name(b.pool, pool);
  copy_name(b.address, address);
  b.weight.store(weight, kRelaxed);
  b.admin_state.store(static_cast<uint32_t>(BackendState::up), kRelaxed);
  t_->header.backend_count.store(i + 1, std::memory_order_release);
  return i;
}

void BackendTable::set_slot_count(uint32_t n) {
  if (n > kMaxSlots) {
    throw std::length_error("more than " + std::to_string(kMaxSlots) + " worker slots");
  }
  t_->header.slot_count.store(n, std::memory_order_release);
}

void BackendTable::claim_slot(uint32_t slot, int pid, SlotRole role, uint32_t generation) {
  WorkerSlot& s = t_->slots[slot];
  s.role.store(static_cast<uint32_t>(role), kRelaxed);
  s.generation.store(generation, kRelaxed);
  s.pid.store(pid, std::memory_order_release);
}

void BackendTable::add_session(uint32_t slot, uint32_t backend, int32_t delta) {
  assert(slot < kMaxSlots && backend < kMaxBackends);
  auto& cell = t_->rows[slot].sessions[backend];
  [[maybe_unused]] int32_t before = cell.fetch_add(delta, kRelaxed);
  assert(before + delta >= 0 && "session count went negative: a close was counted twice");
}

void BackendTable::add_connection(uint32_t slot, int32_t delta) {
  t_->slots[slot].connections.fetch_add(static_cast<uint32_t>(delta), kRelaxed);
}

void BackendTable::clear_slot(uint32_t slot) {
  for (auto& cell : t_->rows[slot].sessions) {
    cell.store(0, kRelaxed);
  }
  WorkerSlot& s = t_->slots[slot];
  s.connections.store(0, kRelaxed);
  s.pid.store(0, std::memory_order_release);
}

void BackendTable::note_respawn(uint32_t slot) { t_->slots[slot].respawns.fetch_add(1, kRelaxed); }

void BackendTable::record_failure(uint32_t backend, int64_t now_ms, int64_t fail_timeout_ms) {
  BackendEntry& b = t_->backends[backend];
  b.consecutive_failures.fetch_add(1, kRelaxed);
  b.failures_total.fetch_add(1, kRelaxed);
  if (fail_timeout_ms > 0) {
    b.down_until_ms.store(now_ms + fail_timeout_ms, kRelaxed);
  }
}

void BackendTable::record_success(uint32_t backend) {
  BackendEntry& b = t_->backends[backend];
  if (b.consecutive_failures.load(kRelaxed) != 0) {
    b.consecutive_failures.store(0, kRelaxed);
  }
}

uint32_t BackendTable::backend_count() const {
  return std::min(t_->header.backend_count.load(std::memory_order_acquire), kMaxBackends);
}

uint32_t BackendTable::slot_count() const {
  return std::min(t_->header.slot_count.load(std::memory_order_acquire), kMaxSlots);
}

int64_t BackendTable::sessions(uint32_t backend) const {
  int64_t sum = 0;
  uint32_t slots = slot_count();
  for (uint32_t s = 0; s < slots; ++s) {
    sum += t_->rows[s].sessions[backend].load(kRelaxed);
  }
  return sum;
}

int32_t BackendTable::sessions_in_slot(uint32_t slot, uint32_t backend) const {
  return t_->rows[slot].sessions[backend].load(kRelaxed);
}

bool BackendTable::available(uint32_t backend, int64_t now_ms) const {
  const BackendEntry& b = t_->backends[backend];
  return b.admin_state.load(kRelaxed) == static_cast<uint32_t>(BackendState::up) &&
         b.down_until_ms.load(kRelaxed) <= now_ms;
}

int64_t BackendTable::down_for_ms(uint32_t backend, int64_t now_ms) const {
  return std::max<int64_t>(0, t_->backends[backend].down_until_ms.load(kRelaxed) - now_ms);
}

}  // namespace wsgate::shm
