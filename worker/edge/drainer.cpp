#include "worker/edge/drainer.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "shm/backend_control.h"
#include "shm/gcra.h"
#include "worker/log/log.h"
#include "worker/net/random_bytes.h"
#include "worker/proxy/session.h"

namespace wsgate::worker {

namespace {
// The poll: a few loads per backend when nothing runs. Moves chosen in one
// tick are spread over the next one.
constexpr uint64_t kTickMs = 100;

uint64_t jitter_ms() {
  uint32_t r = 0;
  fill_random(reinterpret_cast<uint8_t*>(&r), sizeof r);
  return r % kTickMs;
}
}  // namespace

bool Drainer::start(WorkerContext& ctx) {
  ctx_ = &ctx;
  int r = timer_.init(uv_timer_init, ctx.loop, this);
  if (r == 0) {
    r = uv_timer_start(timer_.get(), &Drainer::on_tick, kTickMs, kTickMs);
  }
  if (r != 0) {
    LOG_ERROR("cannot start the drain and rebalance timer (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void Drainer::close() { timer_.close(); }

void Drainer::on_tick(uv_timer_t* t) {
  if (auto* self = static_cast<Drainer*>(t->data)) {
    self->tick();
  }
}

void Drainer::tick() {
  if (ctx_->stopping) {
    return;  // shutting down closes everything anyway
  }
  const int64_t now_ns = shm::monotonic_ns();
  drain_backends(now_ns);
  rebalance(now_ns / 1000000, now_ns);
}

template <class TakeTurn>
int64_t Drainer::move_sessions(uint32_t backend, int64_t wanted, TakeTurn take_turn) {
  int64_t moved = 0;
  bool turn = false;  // taken and not yet used: kept for the next session
  // schedule_move() only arms a timer, so the set does not change under us.
  for (Session* s : ctx_->relaying_on[backend]) {
    if (moved >= wanted || (!turn && !(turn = take_turn()))) {
      break;
    }
    if (s->schedule_move(jitter_ms())) {
      ++moved;
      turn = false;
    }
  }
  // A turn left over (every session was already due) is lost: at most one a tick.
  return moved;
}

void Drainer::drain_backends(int64_t now_ns) {
  shm::Table& t = *ctx_->shm;
  const uint32_t n = std::min<uint32_t>(ctx_->table.backend_count(), static_cast<uint32_t>(ctx_->relaying_on.size()));
  for (uint32_t b = 0; b < n; ++b) {
    if (ctx_->relaying_on[b].empty() ||
        !shm::is_drained_state(t.backends[b].admin_state.load(std::memory_order_acquire))) {
      continue;
    }
    int64_t moved =
        move_sessions(b, std::numeric_limits<int64_t>::max(), [&] { return shm::take_drain_turn(t, b, now_ns); });
    for (int64_t i = 0; i < moved; ++i) {
      shm::count_drain_move(t, b);
    }
  }
}

void Drainer::rebalance(int64_t now_ms, int64_t now_ns) {
  shm::Table& t = *ctx_->shm;
  if (!shm::settle_rebalance(t, now_ms)) {
    return;
  }
  const uint32_t pools = ctx_->table.pool_count();
  for (uint32_t p = 0; p < pools; ++p) {
    std::vector<shm::Share> shares = shm::pool_shares(t, p, now_ms);
    if (shm::balanced(shares)) {
      continue;
    }
    // The most loaded (for its weight) first.
    std::sort(shares.begin(), shares.end(),
              [](const shm::Share& a, const shm::Share& b) { return a.sessions - a.fair > b.sessions - b.fair; });
    for (const shm::Share& s : shares) {
      const int64_t wanted = shm::to_move(s, shares);
      if (wanted <= 0 || s.backend >= ctx_->relaying_on.size()) {
        continue;
      }
      // Every worker sees the same shares; the pool's budget in shm keeps
      // them from moving the same excess once each.
      int64_t moved = move_sessions(s.backend, wanted, [&] { return shm::take_rebalance_turn(t, p, now_ns); });
      for (int64_t i = 0; i < moved; ++i) {
        shm::count_rebalance_move(t);
      }
    }
  }
}

}  // namespace wsgate::worker
