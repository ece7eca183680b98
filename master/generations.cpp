#include "master/generations.h"

#include <algorithm>

namespace wsgate::master {

namespace {

// After the last close_timeout, a margin for the workers to exit by themselves.
constexpr int64_t kKillMarginMs = 2000;

}  // namespace

NewGenerationNeeds plan_new_generation(const Generation* active, const conf::Config& fresh) {
  NewGenerationNeeds needs;
  needs.same_streams = active != nullptr && active->config->streams == fresh.streams;
  needs.slots = fresh.workers + (!needs.same_streams && !fresh.streams.empty() ? 1 : 0);
  return needs;
}

Generation& Generations::add(std::shared_ptr<const conf::Config> config, std::string text, GenState state,
                             int64_t now_ms) {
  auto g = std::make_unique<Generation>();
  g->id = ++last_id_;
  g->config = std::move(config);
  g->text = std::move(text);
  g->state = state;
  g->started_ms = now_ms;
  list_.push_back(std::move(g));
  return *list_.back();
}

Generation* Generations::find(GenState state) {
  for (auto& g : list_) {
    if (g->state == state) {
      return g.get();
    }
  }
  return nullptr;
}

const Generation* Generations::find(GenState state) const { return const_cast<Generations*>(this)->find(state); }

Generation* Generations::by_id(uint32_t id) {
  for (auto& g : list_) {
    if (g->id == id) {
      return g.get();
    }
  }
  return nullptr;
}

const Generation* Generations::by_id(uint32_t id) const { return const_cast<Generations*>(this)->by_id(id); }

Generation* Generations::promote(Generation& g, int64_t now_ms) {
  Generation* old = find(GenState::active);
  g.state = GenState::active;
  if (old != nullptr) {
    retire(*old, now_ms + g.config->drain.drain_timeout.count());
  }
  return old;
}

void Generations::retire(Generation& g, int64_t deadline_ms) {
  g.state = GenState::retiring;
  g.deadline_ms = deadline_ms;
  g.kill_at_ms =
      deadline_ms + g.config->drain.spread().count() + g.config->limits.close_timeout.count() + kKillMarginMs;
}

void Generations::abandon(Generation& g, int64_t now_ms) {
  g.state = GenState::retiring;
  g.deadline_ms = now_ms;
  g.kill_at_ms = now_ms + g.config->limits.close_timeout.count() + kKillMarginMs;
}

std::vector<Generation*> Generations::over_limit(int64_t now_ms, uint32_t max) {
  std::vector<Generation*> out;
  uint32_t retiring = 0;
  for (auto it = list_.rbegin(); it != list_.rend(); ++it) {
    Generation& g = **it;
    if (g.state != GenState::retiring || g.deadline_ms <= now_ms) {
      continue;
    }
    if (++retiring > max) {
      out.push_back(&g);
    }
  }
  return out;
}

uint32_t Generations::retiring_count() const {
  return static_cast<uint32_t>(
      std::count_if(list_.begin(), list_.end(), [](const auto& g) { return g->state == GenState::retiring; }));
}

std::vector<Generation*> Generations::kill_due(int64_t now_ms) {
  std::vector<Generation*> out;
  for (auto& g : list_) {
    if (g->state == GenState::retiring && now_ms >= g->kill_at_ms) {
      out.push_back(g.get());
    }
  }
  return out;
}

void Generations::erase(const Generation& g) {
  list_.erase(std::find_if(list_.begin(), list_.end(), [&](const auto& p) { return p.get() == &g; }));
}

}  // namespace wsgate::master
