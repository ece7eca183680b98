#include "master/slot_table.h"

#include <signal.h>

#include <algorithm>

#include "master/stream_set.h"
#include "shm/backend_table.h"
#include "shm/channel_table.h"

namespace wsgate::master {

SlotTable::SlotTable(shm::Table& table, SendSignal send)
    : table_(&table), send_(std::move(send)), slots_(shm::kMaxSlots) {}

std::string SlotTable::label(uint32_t slot) const {
  const std::string n = std::to_string(slot);
  switch (slots_[slot].role) {
    case shm::SlotRole::prober: return "prober " + n;
    case shm::SlotRole::feeder: return "feeder " + n;
    case shm::SlotRole::admin: return "admin " + n;
    case shm::SlotRole::proxy: return "worker " + n;
    case shm::SlotRole::none: break;
  }
  return "slot " + n;
}

std::optional<uint32_t> SlotTable::take(shm::SlotRole role) {
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].is_free()) {
      slots_[s] = Slot{};
      slots_[s].role = role;
      publish_count();
      return s;
    }
  }
  return std::nullopt;
}

void SlotTable::free(uint32_t slot) {
  shm::BackendTable(*table_).release_slot(slot);
  slots_[slot] = Slot{};
  publish_count();
}

void SlotTable::retire(uint32_t slot) {
  Slot& s = slots_[slot];
  if (!s.alive()) {
    free(slot);
    return;
  }
  s.retire = true;
  send_(s.pid, SIGTERM);
}

void SlotTable::restart(uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.alive()) {
    s.restart = true;
    send_(s.pid, SIGTERM);
  }
}

bool SlotTable::signal(uint32_t slot, int signum) const {
  if (!slots_[slot].alive()) {
    return false;
  }
  send_(slots_[slot].pid, signum);
  return true;
}

void SlotTable::signal_all(int signum) const {
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    signal(s, signum);
  }
}

std::optional<uint32_t> SlotTable::find_pid(pid_t pid) const {
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (pid > 0 && slots_[s].pid == pid) {
      return s;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> SlotTable::find_current(shm::SlotRole role) const {
  std::optional<uint32_t> found;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role == role && !slots_[s].retire) {
      found = s;
    }
  }
  return found;
}

uint32_t SlotTable::free_count() const {
  return static_cast<uint32_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.is_free(); }));
}

bool SlotTable::any_alive() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.alive(); });
}

bool SlotTable::any_alive(shm::SlotRole role) const {
  return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.alive() && s.role == role; });
}

void SlotTable::started(uint32_t slot, pid_t pid, int64_t now_ms) {
  slots_[slot].pid = pid;
  slots_[slot].spawned_ms = now_ms;
  slots_[slot].respawn_at_ms = 0;
}

void SlotTable::fork_failed(uint32_t slot, int64_t now_ms) { slots_[slot].respawn_at_ms = now_ms + kThrottleMs; }

void SlotTable::exited(uint32_t slot) {
  Slot& s = slots_[slot];
  s.pid = 0;
  shm::BackendTable(*table_).clear_slot(slot);
  if (s.streams) {
    shm::ChannelTable(*s.streams->header()).clear_slot(slot);
  }
}

Refill SlotTable::refill(uint32_t slot, bool fatal_exit, int64_t now_ms) {
  Slot& s = slots_[slot];
  if (s.restart) {
    s.restart = false;
    return Refill::restart;
  }
  if (fatal_exit) {
    s.fatal = true;
    return Refill::fatal;
  }
  s.quick_deaths = now_ms - s.spawned_ms < kQuickDeathMs ? s.quick_deaths + 1 : 0;
  shm::BackendTable(*table_).note_respawn(slot);
  if (s.quick_deaths >= kQuickDeathsBeforeThrottle) {
    s.respawn_at_ms = now_ms + kThrottleMs;
    return Refill::throttled;
  }
  return Refill::now;
}

std::vector<uint32_t> SlotTable::due(int64_t now_ms) const {
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (slot.role != shm::SlotRole::none && !slot.alive() && slot.respawn_at_ms != 0 && now_ms >= slot.respawn_at_ms) {
      out.push_back(s);
    }
  }
  return out;
}

// `wsgate status` lists slots up to the highest one in use.
void SlotTable::publish_count() {
  uint32_t n = 0;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role != shm::SlotRole::none) {
      n = s + 1;
    }
  }
  shm::BackendTable(*table_).set_slot_count(n);
}

}  // namespace wsgate::master
