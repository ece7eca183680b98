// Reloads (SIGHUP) and the generations of proxy workers they create.
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "conf/loader.h"
#include "master/privileges.h"
#include "master/supervisor.h"
#include "shm/backend_control.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

// A new generation that is not ready by then is abandoned (and its workers
// stopped): the old one never stopped accepting, so nothing was lost.
constexpr int64_t kStartTimeoutMs = 15000;

bool any_pool_checked(const conf::Config& config) {
  return std::any_of(config.pools.begin(), config.pools.end(), [](const conf::Pool& p) { return p.health.has_value(); });
}

}  // namespace

Supervisor::Generation* Supervisor::find(GenState state) {
  for (auto& g : generations_) {
    if (g->state == state) {
      return g.get();
    }
  }
  return nullptr;
}

const Supervisor::Generation* Supervisor::find(GenState state) const {
  return const_cast<Supervisor*>(this)->find(state);
}

Supervisor::Generation* Supervisor::generation(uint32_t id) {
  for (auto& g : generations_) {
    if (g->id == id) {
      return g.get();
    }
  }
  return nullptr;
}

// The first generation: proxy workers in the first slots, then the prober,
// then the feeder, as `wsgate status` has always listed them.
void Supervisor::start_first_generation(const std::string& text) {
  auto g = std::make_unique<Generation>();
  g->id = ++last_generation_;
  g->config = config_;
  g->text = text;
  g->state = GenState::active;
  g->started_ms = shm::monotonic_ms();
  if (!config_->streams.empty()) {
    g->streams = make_stream_set(config_);
  }
  for (uint32_t i = 0; i < config_->workers; ++i) {
    const uint32_t slot = *take_free_slot(Role::proxy);
    slots_[slot].generation = g->id;
    slots_[slot].index = i;
    slots_[slot].streams = g->streams;
    g->slots.push_back(slot);
  }
  shm::Header& h = segment_.table()->header;
  h.generation.store(g->id);
  h.stream_set.store(g->streams ? g->streams->id() : 0);
  generations_.push_back(std::move(g));
  sync_prober(true);
  if (generations_.back()->streams) {
    attach_feeder(generations_.back()->streams);
  }
  start_admin();
}

// The admin endpoint: one role process for the master's life, serving the
// socket bound at start (a reload that changes `admin` needs a restart).
void Supervisor::start_admin() {
  if (!admin_socket_.open()) {
    return;
  }
  auto slot = take_free_slot(Role::admin);
  if (!slot) {
    LOG_ERROR("no free slot for the admin endpoint: /metrics and /status are not served");
    return;
  }
  if (running_) {
    spawn(*slot);
  }
}

std::optional<AdminSocket> Supervisor::bind_admin(const conf::Config& fresh) const {
  if (!fresh.admin || (admin_socket_.open() && admin_socket_.endpoint() == *fresh.admin)) {
    return std::nullopt;
  }
  return AdminSocket(*fresh.admin);
}

void Supervisor::sync_admin(std::optional<AdminSocket> socket, bool streams_switched) {
  std::optional<uint32_t> slot;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role == Role::admin && !slots_[s].retire) {
      slot = s;
    }
  }
  if (!config_->admin) {
    if (slot && slots_[*slot].pid > 0) {
      slots_[*slot].retire = true;
      kill(slots_[*slot].pid, SIGTERM);
    } else if (slot) {
      free_slot(*slot);
    }
    admin_socket_ = AdminSocket();
    return;
  }
  const bool moved = socket.has_value();
  if (moved) {
    admin_socket_ = std::move(*socket);  // the old one closes here; its process follows below
    LOG_INFO("admin endpoint now on %s", admin_socket_.endpoint().to_string().c_str());
  }
  if (!slot) {
    start_admin();
  } else if ((moved || streams_switched) && slots_[*slot].pid > 0) {
    slots_[*slot].restart = true;
    kill(slots_[*slot].pid, SIGTERM);
  }
}

std::shared_ptr<StreamSet> Supervisor::make_stream_set(std::shared_ptr<const conf::Config> config) {
  auto set = std::make_shared<StreamSet>(last_stream_set_ + 1, std::move(config), segment_.name());
  ++last_stream_set_;
  stream_sets_.push_back(set);
  return set;
}

void Supervisor::attach_feeder(const std::shared_ptr<StreamSet>& set) {
  auto slot = take_free_slot(Role::feeder);
  if (!slot) {
    LOG_ERROR("no free slot for the feeder of stream set %u: streams get no messages", set->id());
    return;
  }
  slots_[*slot].streams = set;
  set->feeder_slot = *slot;
  if (running_) {
    spawn(*slot);
  }
}

void Supervisor::handle_sighup() {
  if (stopping_) {
    LOG_WARN("SIGHUP while stopping: ignored");
    return;
  }
  if (const Generation* g = find(GenState::starting)) {
    reload_pending_ = true;
    LOG_INFO("SIGHUP: generation %u is still starting; reloading again once it is up (or abandoned)", g->id);
    return;
  }
  // systemd hears of a reload only once it was told we are up.
  if (ready_notified_ && !reload_notified_) {
    notifier_.reloading("reloading: checking " + config_->file);
    reload_notified_ = true;
  }
  std::string text;
  std::shared_ptr<const conf::Config> fresh;
  try {
    text = conf::read_config_file(config_->file);
    fresh = std::make_shared<const conf::Config>(conf::load_config_text(text, config_->file));
    check_can_run_as(*fresh);  // a master that is not root cannot switch its new workers' user
  } catch (const conf::ConfigError& e) {
    reload_failed(e.what());
    return;
  }
  const conf::ReloadPlan plan = conf::plan_reload(*config_, *fresh);
  if (plan.kind == conf::ReloadKind::new_generation) {
    start_generation(std::move(fresh), text, plan);
    return;
  }
  if (apply_in_place(std::move(fresh), text, plan)) {
    segment_.table()->header.reloads_ok.fetch_add(1);
    if (reload_notified_) {
      reload_notified_ = false;
      notify_ready();
    }
  }
}

void Supervisor::reload_failed(const std::string& why) {
  LOG_ERROR("SIGHUP: %s; the running configuration is unchanged", why.c_str());
  segment_.table()->header.reloads_failed.fetch_add(1);
  if (reload_notified_) {
    reload_notified_ = false;
    notify_ready();
  }
}

// Whether the table and the slots can take `fresh`: checked before anything
// changes, so a refused reload leaves no half-applied state.
std::optional<std::string> Supervisor::check_room(const conf::Config& fresh, uint32_t slots_needed) const {
  const shm::Table& t = *segment_.table();
  shm::BackendTable table(const_cast<shm::Table&>(t));
  uint32_t new_rows = 0;
  std::vector<std::string> new_pools;
  for (const conf::Pool& pool : fresh.pools) {
    for (const conf::Backend& b : pool.backends) {
      new_rows += table.find_backend(pool.name, b.endpoint.to_string()) ? 0 : 1;
    }
    bool known = false;
    for (uint32_t p = 0; p < table.pool_count(); ++p) {
      known = known || pool.name == table.pool(p).name;
    }
    if (!known) {
      new_pools.push_back(pool.name);
    }
  }
  if (table.backend_count() + new_rows > shm::kMaxBackends) {
    return "it would need " + std::to_string(table.backend_count() + new_rows) + " backend rows; the table holds " +
           std::to_string(shm::kMaxBackends) + " over the instance's life (restart to compact it)";
  }
  if (table.pool_count() + new_pools.size() > shm::kMaxPools) {
    return "it would need more than " + std::to_string(shm::kMaxPools) + " pools over the instance's life";
  }
  uint32_t free = 0;
  for (const Slot& s : slots_) {
    free += s.role == Role::free && s.pid == 0 ? 1 : 0;
  }
  if (free < slots_needed) {
    return "a new generation needs " + std::to_string(slots_needed) + " process slots and " + std::to_string(free) +
           " are free (of " + std::to_string(shm::kMaxSlots) + "); wait for the draining generations to end";
  }
  return std::nullopt;
}

bool Supervisor::apply_in_place(std::shared_ptr<const conf::Config> fresh, const std::string& text,
                                const conf::ReloadPlan& plan) {
  if (auto why = check_room(*fresh, 0)) {
    reload_failed(*why);
    return false;
  }
  std::optional<AdminSocket> admin;
  try {
    admin = bind_admin(*fresh);
  } catch (const std::exception& e) {
    reload_failed(std::string("admin: ") + e.what());
    return false;
  }
  if (!blob_.publish(text)) {
    reload_failed(fresh->file + " is larger than " + std::to_string(shm::ConfigBlob::kCapacity) + " bytes");
    return false;
  }
  const bool pools_changed = fresh->pools != config_->pools;
  sync_backend_table(*fresh, true);
  Generation* g = find(GenState::active);
  g->config = fresh;
  g->text = text;
  config_ = std::move(fresh);
  sync_prober(pools_changed);
  sync_admin(std::move(admin), false);
  LOG_INFO("SIGHUP: %s: applied in place (%s); every worker and session stays", config_->file.c_str(),
           plan.summary().c_str());
  return true;
}

void Supervisor::start_generation(std::shared_ptr<const conf::Config> fresh, const std::string& text,
                                  const conf::ReloadPlan& plan) {
  Generation* old = find(GenState::active);
  const bool same_streams = old != nullptr && old->config->streams == fresh->streams;
  const uint32_t needed = fresh->workers + (!same_streams && !fresh->streams.empty() ? 1 : 0);
  if (auto why = check_room(*fresh, needed)) {
    reload_failed(*why);
    return;
  }
  if (text.size() > shm::ConfigBlob::kCapacity) {
    reload_failed(fresh->file + " is larger than " + std::to_string(shm::ConfigBlob::kCapacity) + " bytes");
    return;
  }
  std::shared_ptr<StreamSet> streams;
  std::optional<AdminSocket> admin;
  try {
    admin = bind_admin(*fresh);
    listeners_.ensure(fresh->listen, fresh->workers);
    if (same_streams) {
      streams = old->streams;
    } else if (!fresh->streams.empty()) {
      streams = make_stream_set(fresh);
    }
  } catch (const std::exception& e) {
    listeners_.keep_only(config_->listen);
    reload_failed(e.what());
    return;
  }
  sync_backend_table(*fresh, false);  // rows for new backends; removed ones stay routable until the switch
  auto g = std::make_unique<Generation>();
  g->id = ++last_generation_;
  g->config = std::move(fresh);
  g->text = text;
  g->state = GenState::starting;
  g->started_ms = shm::monotonic_ms();
  g->changes = plan.summary();
  g->streams = streams;
  g->admin_socket = std::move(admin);
  for (uint32_t i = 0; i < g->config->workers; ++i) {
    const uint32_t slot = *take_free_slot(Role::proxy);
    slots_[slot].generation = g->id;
    slots_[slot].index = i;
    slots_[slot].streams = streams;
    g->slots.push_back(slot);
  }
  LOG_INFO("SIGHUP: %s: starting generation %u (%s)", g->config->file.c_str(), g->id, g->changes.c_str());
  Generation& ref = *g;
  generations_.push_back(std::move(g));
  if (streams && !same_streams) {
    attach_feeder(streams);
  }
  for (uint32_t slot : ref.slots) {
    spawn(slot);
  }
}

void Supervisor::check_starting() {
  if (Generation* g = find(GenState::starting)) {
    if (proxies_claimed(*g) == g->slots.size()) {
      promote(*g);
    } else if (shm::monotonic_ms() - g->started_ms > kStartTimeoutMs) {
      abort_starting("its workers were not all ready within " + std::to_string(kStartTimeoutMs / 1000) + " s");
    }
  }
  if (reload_pending_ && find(GenState::starting) == nullptr && !stopping_) {
    reload_pending_ = false;
    handle_sighup();
  }
}

// Every worker of `g` accepts now: the old generation stops accepting (its
// sockets stay open in the master, so its queued connections go to `g`).
void Supervisor::promote(Generation& g) {
  Generation* old = find(GenState::active);
  g.state = GenState::active;
  config_ = g.config;
  shm::Header& h = segment_.table()->header;
  h.generation.store(g.id);
  h.stream_set.store(g.streams ? g.streams->id() : 0);
  blob_.publish(g.text);
  sync_backend_table(*g.config, true);
  const int64_t now = shm::monotonic_ms();
  uint64_t connections = 0;
  if (old != nullptr) {
    for (uint32_t s : old->slots) {
      connections += segment_.table()->slots[s].connections.load();
    }
    drain_generation(*old, now + g.config->drain.drain_timeout.count());
  }
  listeners_.keep_only(g.config->listen);
  sync_prober(old == nullptr || old->config->pools != g.config->pools);
  sync_admin(std::move(g.admin_socket), old == nullptr || old->streams != g.streams);
  g.admin_socket.reset();
  limit_draining();
  retire_unused_stream_sets();
  h.reloads_ok.fetch_add(1);
  LOG_INFO("reload: generation %u accepts now (%s); generation %u drains %llu connections within %lld ms", g.id,
           g.changes.c_str(), old != nullptr ? old->id : 0, static_cast<unsigned long long>(connections),
           static_cast<long long>(g.config->drain.drain_timeout.count()));
  if (reload_notified_) {
    reload_notified_ = false;
    notify_ready();
  }
}

void Supervisor::abort_starting(const std::string& why) {
  Generation* g = find(GenState::starting);
  if (g == nullptr) {
    return;
  }
  for (uint32_t s : g->slots) {
    if (slots_[s].pid > 0) {
      slots_[s].retire = true;
      kill(slots_[s].pid, SIGTERM);
    } else {
      free_slot(s);
    }
  }
  g->state = GenState::draining;
  g->deadline_ms = shm::monotonic_ms();
  g->kill_at_ms = g->deadline_ms + g->config->limits.close_timeout.count() + 2000;
  listeners_.keep_only(config_->listen);
  reload_failed("generation " + std::to_string(g->id) + " did not start: " + why);
}

void Supervisor::drain_generation(Generation& g, int64_t deadline_ms) {
  g.state = GenState::draining;
  g.deadline_ms = deadline_ms;
  g.kill_at_ms = deadline_ms + g.config->drain.spread().count() + g.config->limits.close_timeout.count() + 2000;
  shm::Table& t = *segment_.table();
  for (uint32_t s : g.slots) {
    Slot& slot = slots_[s];
    if (slot.role != Role::proxy || slot.generation != g.id) {
      continue;
    }
    t.slots[s].drain_deadline_ms.store(deadline_ms, std::memory_order_release);
    if (slot.pid > 0) {
      kill(slot.pid, SIGQUIT);
    } else {
      free_slot(s);  // waiting for a respawn that a draining generation never gets
    }
  }
}

// At most max_generations drain at once: one more shortens the oldest's
// drain to now (its leftovers still get 1001 spread over a few seconds).
void Supervisor::limit_draining() {
  const int64_t now = shm::monotonic_ms();
  uint32_t draining = 0;
  for (auto it = generations_.rbegin(); it != generations_.rend(); ++it) {
    Generation& g = **it;
    if (g.state != GenState::draining || g.deadline_ms <= now) {
      continue;
    }
    if (++draining > config_->drain.max_generations) {
      LOG_INFO("generation %u: more than max_generations (%u) draining; ending its drain now", g.id,
               config_->drain.max_generations);
      drain_generation(g, now);
    }
  }
  uint32_t total = 0;
  for (const auto& g : generations_) {
    total += g->state == GenState::draining ? 1 : 0;
  }
  segment_.table()->header.draining_generations.store(total);
}

void Supervisor::check_drain_deadlines() {
  const int64_t now = shm::monotonic_ms();
  for (auto& g : generations_) {
    if (g->state != GenState::draining || now < g->kill_at_ms) {
      continue;
    }
    for (uint32_t s : g->slots) {
      if (slots_[s].role == Role::proxy && slots_[s].generation == g->id && slots_[s].pid > 0) {
        LOG_WARN("%s did not finish its drain by the deadline; killing it", slot_label(s).c_str());
        kill(slots_[s].pid, SIGKILL);
      }
    }
    g->kill_at_ms = now + 1000;
  }
}

void Supervisor::forget_finished_generations() {
  bool forgot = false;
  for (auto it = generations_.begin(); it != generations_.end();) {
    Generation& g = **it;
    const bool mine_alive = std::any_of(g.slots.begin(), g.slots.end(), [&](uint32_t s) {
      return slots_[s].role == Role::proxy && slots_[s].generation == g.id && slots_[s].pid > 0;
    });
    if (g.state != GenState::draining || mine_alive) {
      ++it;
      continue;
    }
    for (uint32_t s : g.slots) {
      if (slots_[s].role == Role::proxy && slots_[s].generation == g.id) {
        free_slot(s);
      }
    }
    LOG_INFO("generation %u is gone", g.id);
    it = generations_.erase(it);
    forgot = true;
  }
  if (forgot) {
    retire_unused_stream_sets();
    limit_draining();  // publishes the draining count
  }
}

void Supervisor::retire_unused_stream_sets() {
  for (auto it = stream_sets_.begin(); it != stream_sets_.end();) {
    const std::shared_ptr<StreamSet>& set = *it;
    const bool used = std::any_of(generations_.begin(), generations_.end(),
                                  [&](const auto& g) { return g->streams == set; });
    if (used) {
      ++it;
      continue;
    }
    if (set->feeder_slot != StreamSet::kNoSlot) {
      Slot& f = slots_[set->feeder_slot];
      if (f.pid > 0) {
        f.retire = true;
        kill(f.pid, SIGTERM);
      } else {
        free_slot(set->feeder_slot);
      }
    }
    LOG_INFO("stream set %u is no longer used; its feeder stops", set->id());
    it = stream_sets_.erase(it);
  }
}

// Rows for every backend `config` names: new ones appended (rows are never
// reused, so ids stay valid in every worker of every generation), weights
// and health policies updated. With `mark_removed`, rows no longer named are
// marked removed: not routable, and drained of their sessions.
void Supervisor::sync_backend_table(const conf::Config& config, bool mark_removed) {
  shm::BackendTable table(*segment_.table());
  std::vector<bool> named(shm::kMaxBackends, false);
  for (const conf::Pool& pool : config.pools) {
    shm::HealthPolicy policy;
    if (pool.health) {
      policy = shm::HealthPolicy{pool.health->rise, pool.health->fall};
    }
    for (const conf::Backend& b : pool.backends) {
      const std::string address = b.endpoint.to_string();
      uint32_t id = 0;
      if (auto found = table.find_backend(pool.name, address)) {
        id = *found;
        table.update_backend(id, b.weight, policy);
        if (table.backend(id).admin_state.load() == static_cast<uint32_t>(shm::BackendState::removed)) {
          table.set_admin_state(id, shm::BackendState::up);
          segment_.table()->control.backends[id].drain_rate.store(0);
          LOG_INFO("backend %s of pool %s is configured again", address.c_str(), pool.name.c_str());
        }
      } else {
        id = table.add_backend(pool.name, address, b.weight, policy);
      }
      named[id] = true;
    }
  }
  if (!mark_removed) {
    return;
  }
  for (uint32_t id = 0; id < table.backend_count(); ++id) {
    if (!named[id] && table.backend(id).admin_state.load() != static_cast<uint32_t>(shm::BackendState::removed)) {
      // Its sessions are moved off like a `wsgate drain` at the default
      // pace (1012, or a silent move in a `reconnect` pool).
      std::string err;
      if (!shm::start_drain(*segment_.table(), id, shm::kDefaultMoveRate, err, shm::BackendState::removed)) {
        table.set_admin_state(id, shm::BackendState::removed);
        LOG_ERROR("backend %s of pool %s: cannot drain it: %s", table.backend(id).address, table.backend(id).pool,
                  err.c_str());
      }
      LOG_INFO("backend %s of pool %s was removed: no new sessions; its %lld sessions move off at %u/s",
               table.backend(id).address, table.backend(id).pool, static_cast<long long>(table.sessions(id)),
               shm::kDefaultMoveRate);
    }
  }
}

// One prober for the active config: started when a pool gets checks,
// restarted when the pools changed, stopped when no pool is checked.
void Supervisor::sync_prober(bool pools_changed) {
  std::optional<uint32_t> slot;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role == Role::prober && !slots_[s].retire) {
      slot = s;
    }
  }
  if (!any_pool_checked(*config_)) {
    if (slot && slots_[*slot].pid > 0) {
      slots_[*slot].retire = true;
      kill(slots_[*slot].pid, SIGTERM);
    } else if (slot) {
      free_slot(*slot);
    }
    return;
  }
  if (!slot) {
    slot = take_free_slot(Role::prober);
    if (!slot) {
      LOG_ERROR("no free slot for the health prober: backends are not actively checked");
      return;
    }
    if (running_) {
      spawn(*slot);
    }
    return;
  }
  if (pools_changed && slots_[*slot].pid > 0) {
    slots_[*slot].restart = true;
    kill(slots_[*slot].pid, SIGTERM);
  }
}

}  // namespace wsgate::master
