// Old generations: told to finish, cut short beyond max_generations, killed
// past their deadline, and forgotten once no worker of theirs is left.
#include <signal.h>

#include <algorithm>

#include "master/supervisor.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

void Supervisor::retire_generation(Generation& g, int64_t deadline_ms) {
  Generations::retire(g, deadline_ms);
  tell_retiring(g);
}

void Supervisor::tell_retiring(const Generation& g) {
  shm::Table& t = *segment_.table();
  for (uint32_t s : g.slots) {
    const Slot& slot = slots_[s];
    if (slot.role != shm::SlotRole::proxy || slot.generation != g.id) {
      continue;
    }
    t.slots[s].drain_deadline_ms.store(g.deadline_ms, std::memory_order_release);
    if (!slots_.signal(s, SIGQUIT)) {
      slots_.free(s);  // waiting for a respawn that a retiring generation never gets
    }
  }
}

// At most max_generations retire at once: one more ends the oldest's
// retirement now (its leftovers still get 1001 spread over a few seconds).
void Supervisor::limit_retiring() {
  const int64_t now = shm::monotonic_ms();
  for (Generation* g : generations_.over_limit(now, config_->drain.max_generations)) {
    LOG_INFO("generation %u: more than max_generations (%u) draining; ending its drain now", g->id,
             config_->drain.max_generations);
    retire_generation(*g, now);
  }
  segment_.table()->header.draining_generations.store(generations_.retiring_count());
}

void Supervisor::check_retire_deadlines() {
  const int64_t now = shm::monotonic_ms();
  for (Generation* g : generations_.kill_due(now)) {
    for (uint32_t s : g->slots) {
      if (slots_[s].role == shm::SlotRole::proxy && slots_[s].generation == g->id && slots_[s].alive()) {
        LOG_WARN("%s did not finish its drain by the deadline; killing it", slots_.label(s).c_str());
        slots_.signal(s, SIGKILL);
      }
    }
    Generations::kill_again_later(*g, now);
  }
}

bool Supervisor::generation_alive(const Generation& g) const {
  return std::any_of(g.slots.begin(), g.slots.end(), [&](uint32_t s) {
    return slots_[s].role == shm::SlotRole::proxy && slots_[s].generation == g.id && slots_[s].alive();
  });
}

void Supervisor::forget_finished_generations() {
  std::vector<const Generation*> finished;
  for (const auto& g : generations_) {
    if (g->state == GenState::retiring && !generation_alive(*g)) {
      finished.push_back(g.get());
    }
  }
  for (const Generation* g : finished) {
    for (uint32_t s : g->slots) {
      if (slots_[s].role == shm::SlotRole::proxy && slots_[s].generation == g->id) {
        slots_.free(s);
      }
    }
    LOG_INFO("generation %u is gone", g->id);
    generations_.erase(*g);
  }
  if (!finished.empty()) {
    retire_unused_stream_sets();
    limit_retiring();  // publishes the retiring count
  }
}

}  // namespace wsgate::master
