#include "shm/backend_control.h"

#include <algorithm>
#include <cmath>

#include "shm/backend_table.h"
#include "shm/gcra.h"

namespace wsgate::shm {

static_assert(kControlBackends == kMaxBackends && kControlPools == kMaxPools,
              "control rows mirror the backend and pool tables");

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr auto kUp = static_cast<uint32_t>(BackendState::up);
constexpr auto kRunning = static_cast<uint32_t>(RebalanceState::running);
// Workers poll every 100 ms, so the pace lets a tick's worth go at once
// (worker/edge/drainer.cpp spreads them over the tick with jitter). A tolerance
// any shorter would lose the credit left between two ticks and pace below
// the rate (25/s would come out at 20/s).
constexpr int64_t kPaceWindowMs = 100;
// A rebalance that has not finished after three times its planned time
// (plus this) gives up: its sessions cannot be moved (all mid-handshake,
// or their workers gone) and it must not run forever.
constexpr int64_t kRebalanceGraceMs = 30000;

// Const views: BackendTable's readers never write.
BackendTable view(const Table& t) { return BackendTable(const_cast<Table&>(t)); }

Gcra pace(uint32_t rate) {
  Gcra g = Gcra::per_second(rate, 1);
  g.tolerance_ns = kPaceWindowMs * 1000000;
  return g;
}

bool valid_rate(uint32_t rate, std::string& err) {
  if (rate == 0 || rate > kMaxMoveRate) {
    err = "rate must be 1 to " + std::to_string(kMaxMoveRate) + " sessions/s, got " + std::to_string(rate);
    return false;
  }
  return true;
}

bool valid_backend(const Table& t, uint32_t backend, std::string& err) {
  if (backend >= view(t).backend_count()) {
    err = "no backend #" + std::to_string(backend);
    return false;
  }
  return true;
}

// Sessions a pool's rebalance may move: what lies above the fair share on
// the backends above it, when the pool is out of balance. Moving that much
// balances it if the clients come back (close policy) or move (reconnect
// policy) to the others, and bounds what it closes if they do not.
int64_t pool_excess(const Table& t, uint32_t pool, int64_t now_ms) {
  const std::vector<Share> shares = pool_shares(t, pool, now_ms);
  if (balanced(shares)) {
    return 0;
  }
  int64_t sum = 0;
  for (const Share& s : shares) {
    sum += std::max<int64_t>(0, s.sessions - static_cast<int64_t>(std::floor(s.fair)));
  }
  return sum;
}

bool finish(RebalanceControl& r, RebalanceState to, int64_t now_ms) {
  uint32_t expected = kRunning;
  if (!r.state.compare_exchange_strong(expected, static_cast<uint32_t>(to), std::memory_order_acq_rel)) {
    return false;
  }
  r.finished_ms.store(now_ms, kRelaxed);
  return true;
}

}  // namespace

std::optional<uint32_t> find_backend(const Table& t, std::string_view name, std::string& err) {
  const BackendTable bt = view(t);
  const size_t slash = name.find('/');
  const std::string_view pool = slash == std::string_view::npos ? std::string_view() : name.substr(0, slash);
  const std::string_view address = slash == std::string_view::npos ? name : name.substr(slash + 1);
  std::optional<uint32_t> found;
  std::string pools;
  for (uint32_t b = 0; b < bt.backend_count(); ++b) {
    const BackendEntry& e = bt.backend(b);
    if (address != e.address || (!pool.empty() && pool != e.pool)) {
      continue;
    }
    pools += (pools.empty() ? "" : ", ") + std::string(e.pool);
    if (found) {
      err = "backend " + std::string(address) + " is in several pools (" + pools + "): name it as POOL/" +
            std::string(address);
      return std::nullopt;
    }
    found = b;
  }
  if (!found) {
    err = "no backend " + std::string(name) + " in the running instance (see wsgate status)";
  }
  return found;
}

bool start_drain(Table& t, uint32_t backend, uint32_t rate_per_s, std::string& err, BackendState as) {
  if (!valid_backend(t, backend, err) || !valid_rate(rate_per_s, err)) {
    return false;
  }
  BackendControl& c = t.control.backends[backend];
  c.drain_rate.store(rate_per_s, kRelaxed);
  c.drain_started_ms.store(monotonic_ms(), kRelaxed);
  c.drain_initial.store(view(t).sessions(backend), kRelaxed);
  c.drain_tat_ns.store(0, kRelaxed);
  c.drain_moved.store(0, kRelaxed);
  c.drain_epoch.fetch_add(1, kRelaxed);
  // Release: a worker that sees "draining" sees the rate and pace above.
  t.backends[backend].admin_state.store(static_cast<uint32_t>(as), std::memory_order_release);
  return true;
}

bool cancel_drain(Table& t, uint32_t backend, std::string& err) {
  if (!valid_backend(t, backend, err)) {
    return false;
  }
  if (t.backends[backend].admin_state.load(std::memory_order_acquire) == static_cast<uint32_t>(BackendState::removed)) {
    err = "it was removed from the configuration by a reload; add it back and reload instead";
    return false;
  }
  t.backends[backend].admin_state.store(kUp, std::memory_order_release);
  t.control.backends[backend].drain_rate.store(0, kRelaxed);
  return true;
}

bool start_rebalance(Table& t, uint32_t rate_per_s, std::string& err) {
  if (!valid_rate(rate_per_s, err)) {
    return false;
  }
  RebalanceControl& r = t.control.rebalance;
  const int64_t now = monotonic_ms();
  // Whoever runs now (the workers) stops taking turns while this is set up.
  r.state.store(static_cast<uint32_t>(RebalanceState::idle), std::memory_order_release);
  int64_t planned = 0;
  const uint32_t pools = view(t).pool_count();
  for (uint32_t p = 0; p < kControlPools; ++p) {
    const int64_t excess = p < pools ? pool_excess(t, p, now) : 0;
    r.budget[p].store(excess, kRelaxed);
    planned += excess;
  }
  r.rate.store(rate_per_s, kRelaxed);
  r.tat_ns.store(0, kRelaxed);
  r.moved.store(0, kRelaxed);
  r.planned.store(planned, kRelaxed);
  r.started_ms.store(now, kRelaxed);
  r.finished_ms.store(planned == 0 ? now : 0, kRelaxed);
  r.deadline_ms.store(now + planned * 3000 / rate_per_s + kRebalanceGraceMs, kRelaxed);
  r.epoch.fetch_add(1, kRelaxed);
  r.state.store(static_cast<uint32_t>(planned == 0 ? RebalanceState::done : RebalanceState::running),
                std::memory_order_release);
  return true;
}

bool cancel_rebalance(Table& t, std::string& err) {
  if (!finish(t.control.rebalance, RebalanceState::cancelled, monotonic_ms())) {
    err = "no rebalance is running";
    return false;
  }
  return true;
}

DrainProgress drain_progress(const Table& t, uint32_t backend) {
  DrainProgress d;
  const BackendTable bt = view(t);
  if (backend >= bt.backend_count()) {
    return d;
  }
  const BackendControl& c = t.control.backends[backend];
  d.draining = is_drained_state(bt.backend(backend).admin_state.load(std::memory_order_acquire));
  d.rate = c.drain_rate.load(kRelaxed);
  d.sessions_left = bt.sessions(backend);
  d.initial = c.drain_initial.load(kRelaxed);
  d.moved = c.drain_moved.load(kRelaxed);
  const int64_t started = c.drain_started_ms.load(kRelaxed);
  d.elapsed_ms = d.draining && started > 0 ? monotonic_ms() - started : 0;
  return d;
}

RebalanceProgress rebalance_progress(const Table& t) {
  const RebalanceControl& r = t.control.rebalance;
  RebalanceProgress p;
  p.state = static_cast<RebalanceState>(r.state.load(std::memory_order_acquire));
  p.rate = r.rate.load(kRelaxed);
  p.moved = r.moved.load(kRelaxed);
  p.planned = r.planned.load(kRelaxed);
  const int64_t started = r.started_ms.load(kRelaxed);
  const int64_t finished = r.finished_ms.load(kRelaxed);
  if (started > 0) {
    p.elapsed_ms = (finished > 0 ? finished : monotonic_ms()) - started;
  }
  return p;
}

const char* rebalance_state_name(RebalanceState s) {
  switch (s) {
    case RebalanceState::idle: return "idle";
    case RebalanceState::running: return "running";
    case RebalanceState::done: return "done";
    case RebalanceState::cancelled: return "cancelled";
    case RebalanceState::expired: return "expired";
  }
  return "unknown";
}

std::vector<Share> pool_shares(const Table& t, uint32_t pool, int64_t now_ms) {
  const BackendTable bt = view(t);
  std::vector<Share> out;
  int64_t total = 0;
  uint64_t weights = 0;
  for (uint32_t b = 0; b < bt.backend_count(); ++b) {
    const BackendEntry& e = bt.backend(b);
    if (e.pool_index != pool || !bt.available(b, now_ms)) {
      continue;
    }
    Share s;
    s.backend = b;
    s.sessions = std::max<int64_t>(0, bt.sessions(b));
    s.fair = e.weight.load(kRelaxed);  // the weight until the total is known
    total += s.sessions;
    weights += e.weight.load(kRelaxed);
    out.push_back(s);
  }
  for (Share& s : out) {
    s.fair = weights > 0 ? static_cast<double>(total) * s.fair / static_cast<double>(weights) : 0;
    // 1e-9: 30 * 1.1 must allow 33, not 34 by a rounding error.
    const auto high = static_cast<int64_t>(std::ceil(s.fair * (1 + kFairShareTolerance) - 1e-9));
    const auto low = static_cast<int64_t>(std::floor(s.fair * (1 - kFairShareTolerance) + 1e-9));
    s.excess = std::max<int64_t>(0, s.sessions - high);
    s.deficit = std::max<int64_t>(0, low - s.sessions);
    s.surplus = std::max<int64_t>(0, s.sessions - static_cast<int64_t>(std::ceil(s.fair - 1e-9)));
  }
  return out;
}

bool balanced(const std::vector<Share>& shares) {
  return std::all_of(shares.begin(), shares.end(), [](const Share& s) { return s.excess == 0 && s.deficit == 0; });
}

int64_t to_move(const Share& s, const std::vector<Share>& pool) {
  if (s.excess > 0) {
    return s.excess;
  }
  const bool over = std::any_of(pool.begin(), pool.end(), [](const Share& x) { return x.excess > 0; });
  const bool under = std::any_of(pool.begin(), pool.end(), [](const Share& x) { return x.deficit > 0; });
  return !over && under ? s.surplus : 0;
}

bool take_drain_turn(Table& t, uint32_t backend, int64_t now_ns) {
  BackendControl& c = t.control.backends[backend];
  const uint32_t rate = c.drain_rate.load(kRelaxed);
  return rate != 0 && gcra_admit(c.drain_tat_ns, pace(rate), now_ns);
}

void count_drain_move(Table& t, uint32_t backend) { t.control.backends[backend].drain_moved.fetch_add(1, kRelaxed); }

bool take_rebalance_turn(Table& t, uint32_t pool, int64_t now_ns) {
  RebalanceControl& r = t.control.rebalance;
  if (pool >= kControlPools || r.state.load(std::memory_order_acquire) != kRunning) {
    return false;
  }
  if (r.budget[pool].fetch_sub(1, kRelaxed) <= 0) {
    r.budget[pool].fetch_add(1, kRelaxed);
    return false;
  }
  if (!gcra_admit(r.tat_ns, pace(r.rate.load(kRelaxed)), now_ns)) {
    r.budget[pool].fetch_add(1, kRelaxed);
    return false;
  }
  return true;
}

void count_rebalance_move(Table& t) { t.control.rebalance.moved.fetch_add(1, kRelaxed); }

bool settle_rebalance(Table& t, int64_t now_ms) {
  RebalanceControl& r = t.control.rebalance;
  if (r.state.load(std::memory_order_acquire) != kRunning) {
    return false;
  }
  if (now_ms >= r.deadline_ms.load(kRelaxed)) {
    finish(r, RebalanceState::expired, now_ms);
    return false;
  }
  bool all_balanced = true, budget_left = false;
  const uint32_t pools = view(t).pool_count();
  for (uint32_t p = 0; p < pools; ++p) {
    budget_left = budget_left || r.budget[p].load(kRelaxed) > 0;
    all_balanced = all_balanced && balanced(pool_shares(t, p, now_ms));
  }
  if (all_balanced || !budget_left) {
    finish(r, RebalanceState::done, now_ms);
    return false;
  }
  return true;
}

}  // namespace wsgate::shm
