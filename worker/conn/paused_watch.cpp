#include "worker/conn/paused_watch.h"

#include <vector>

#include "worker/log/log.h"

namespace wsgate::worker {

void PausedWatch::add(uv_loop_t* loop, Watched& w) {
  if (!timer_.is_initialized()) {
    const int r = timer_.init(uv_timer_init, loop, this);
    if (r != 0) {
      LOG_WARN("uv_timer_init() failed for the paused-connection watch (%s)", log::uv_error_text(r).c_str());
      return;
    }
  }
  auto [it, added] = watched_.try_emplace(&w, Entry{uv_now(loop), 0});
  if (added && watched_.size() == 1) {
    const auto every = static_cast<uint64_t>(kPausedCheck.count());
    uv_timer_start(timer_.get(), &PausedWatch::on_tick, every, every);
  }
}

void PausedWatch::remove(Watched& w) {
  if (watched_.erase(&w) != 0 && watched_.empty() && timer_.is_initialized()) {
    uv_timer_stop(timer_.get());
  }
}

void PausedWatch::on_tick(uv_timer_t* t) {
  auto* self = static_cast<PausedWatch*>(t->data);
  if (self == nullptr) {
    return;
  }
  const uint64_t now = uv_now(t->loop);
  // A check may end its connection, or another one (which then leaves the watch).
  std::vector<Watched*> due;
  due.reserve(self->watched_.size());
  for (auto& [w, e] : self->watched_) {
    due.push_back(w);
  }
  for (Watched* w : due) {
    auto it = self->watched_.find(w);
    if (it != self->watched_.end()) {
      w->on_paused_check(it->second, now);
    }
  }
}

}  // namespace wsgate::worker
