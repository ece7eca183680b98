// Reloads (SIGHUP): in place, or through a new generation of proxy workers.
#include "conf/loader.h"
#include "master/privileges.h"
#include "master/supervisor.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

// A new generation that is not ready by then is abandoned (and its workers
// stopped): the old one never stopped accepting, so nothing was lost.
constexpr int64_t kStartTimeoutMs = 15000;

}  // namespace

// The first generation: proxy workers in the first slots, then the prober,
// then the feeder, as `wsgate status` has always listed them.
void Supervisor::start_first_generation(const std::string& text) {
  Generation& g = generations_.add(config_, text, GenState::active, shm::monotonic_ms());
  if (!config_->streams.empty()) {
    g.streams = make_stream_set(config_);
  }
  take_proxy_slots(g);
  shm::Header& h = segment_.table()->header;
  h.generation.store(g.id);
  h.stream_set.store(g.streams ? g.streams->id() : 0);
  sync_prober(true);
  if (g.streams) {
    attach_feeder(g.streams);
  }
  start_admin();
}

void Supervisor::handle_sighup() {
  if (stopping_) {
    LOG_WARN("SIGHUP while stopping: ignored");
    return;
  }
  if (const Generation* g = generations_.find(GenState::starting)) {
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
    tls_pending_ = read_tls(*fresh);  // certificates are re-read on every SIGHUP, changed or not
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
    reload_done();
  }
}

void Supervisor::reload_failed(const std::string& why) {
  LOG_ERROR("SIGHUP: %s; the running configuration is unchanged", why.c_str());
  segment_.table()->header.reloads_failed.fetch_add(1);
  reload_done();
}

// systemd was told RELOADING=1: READY=1 ends it, whatever the outcome.
void Supervisor::reload_done() {
  if (reload_notified_) {
    reload_notified_ = false;
    notify_ready();
  }
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
  publish_tls(*fresh, tls_pending_);
  sync_backend_table(*fresh, true);
  Generation* g = generations_.find(GenState::active);
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
  Generation* old = generations_.find(GenState::active);
  const NewGenerationNeeds needs = plan_new_generation(old, *fresh);
  if (auto why = check_room(*fresh, needs.slots)) {
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
    listeners_.ensure(fresh->listen_addresses(), fresh->workers);
    if (needs.same_streams) {
      streams = old->streams;
    } else if (!fresh->streams.empty()) {
      streams = make_stream_set(fresh);
    }
  } catch (const std::exception& e) {
    listeners_.keep_only(config_->listen_addresses());
    reload_failed(e.what());
    return;
  }
  publish_tls(*fresh, tls_pending_);  // before the new workers start: they read it
  sync_backend_table(*fresh, false);  // rows for new backends; removed ones stay routable until the switch
  Generation& g = generations_.add(std::move(fresh), text, GenState::starting, shm::monotonic_ms());
  g.changes = plan.summary();
  g.streams = streams;
  g.admin_socket = std::move(admin);
  take_proxy_slots(g);
  LOG_INFO("SIGHUP: %s: starting generation %u (%s)", g.config->file.c_str(), g.id, g.changes.c_str());
  if (streams && !needs.same_streams) {
    attach_feeder(streams);
  }
  for (uint32_t slot : g.slots) {
    spawn(slot);
  }
}

void Supervisor::check_starting() {
  if (Generation* g = generations_.find(GenState::starting)) {
    if (proxies_claimed(*g) == g->slots.size()) {
      promote(*g);
    } else if (shm::monotonic_ms() - g->started_ms > kStartTimeoutMs) {
      abort_starting("its workers were not all ready within " + std::to_string(kStartTimeoutMs / 1000) + " s");
    }
  }
  if (reload_pending_ && generations_.find(GenState::starting) == nullptr && !stopping_) {
    reload_pending_ = false;
    handle_sighup();
  }
}

// Every worker of `g` accepts now: the old generation stops accepting (its
// sockets stay open in the master, so its queued connections go to `g`).
void Supervisor::promote(Generation& g) {
  const int64_t now = shm::monotonic_ms();
  Generation* old = generations_.promote(g, now);
  config_ = g.config;
  shm::Header& h = segment_.table()->header;
  h.generation.store(g.id);
  h.stream_set.store(g.streams ? g.streams->id() : 0);
  blob_.publish(g.text);
  sync_backend_table(*g.config, true);
  uint64_t connections = 0;
  if (old != nullptr) {
    for (uint32_t s : old->slots) {
      connections += segment_.table()->slots[s].connections.load();
    }
    tell_retiring(*old);  // the plan retired it at promotion
  }
  listeners_.keep_only(g.config->listen_addresses());
  sync_prober(old == nullptr || old->config->pools != g.config->pools);
  sync_admin(std::move(g.admin_socket), old == nullptr || old->streams != g.streams);
  g.admin_socket.reset();
  limit_retiring();
  retire_unused_stream_sets();
  h.reloads_ok.fetch_add(1);
  LOG_INFO("reload: generation %u accepts now (%s); generation %u drains %llu connections within %lld ms", g.id,
           g.changes.c_str(), old != nullptr ? old->id : 0, static_cast<unsigned long long>(connections),
           static_cast<long long>(g.config->drain.drain_timeout.count()));
  reload_done();
}

void Supervisor::abort_starting(const std::string& why) {
  Generation* g = generations_.find(GenState::starting);
  if (g == nullptr) {
    return;
  }
  for (uint32_t s : g->slots) {
    slots_.retire(s);
  }
  Generations::abandon(*g, shm::monotonic_ms());
  listeners_.keep_only(config_->listen_addresses());
  reload_failed("generation " + std::to_string(g->id) + " did not start: " + why);
}

}  // namespace wsgate::master
