#include "worker/worker.h"

#include <uv.h>

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "conf/loader.h"
#include "shm/backend_table.h"
#include "worker/log.h"
#include "worker/session.h"
#include "worker/stop_signals.h"
#include "worker/stream_hub.h"
#include "worker/subscriber.h"
#include "worker/uv_handle.h"
#include "worker/worker_context.h"

namespace wsgate::worker {

namespace {

class Worker final : public SessionHost, public SubscriberHost {
 public:
  explicit Worker(const WorkerArgs& args) : args_(args), ctx_(*args.table) {}
  ~Worker();
  int run();

 private:
  bool setup_loop();
  bool setup_pools();
  bool setup_streams();
  bool setup_key_reload();
  static void on_sighup(uv_signal_t* h, int signum);
  void reload_keys();
  bool setup_listeners();
  void stop(const char* why);
  void retire(Session& s) override;
  void retire(Subscriber& s) override;
  void adopt_subscriber(std::unique_ptr<TcpConn> conn, SubscriberStart start, const std::string& response_101,
                        std::string early) override;
  void bury();
  void close_all();

  static void on_connection(uv_stream_t* server, int status);
  static void on_idle(uv_idle_t* h);
  static void on_stop_deadline(uv_timer_t* t);
  static void on_health_watch(uv_timer_t* t);
  void check_backend_health();

  const WorkerArgs& args_;
  uv_loop_t loop_{};
  bool loop_ok_ = false;
  WorkerContext ctx_;
  std::vector<std::unique_ptr<UvHandle<uv_tcp_t>>> listeners_;
  StopSignals stop_signals_;
  UvHandle<uv_idle_t> reaper_;
  UvHandle<uv_timer_t> stop_deadline_;
  UvHandle<uv_timer_t> health_watch_;
  UvHandle<uv_signal_t> sighup_;
  std::vector<uint32_t> seen_changes_;  // per backend: state_changes last acted on
  std::unordered_map<Session*, std::unique_ptr<Session>> live_;
  std::vector<std::unique_ptr<Session>> graveyard_;
  StreamHub hub_;
  std::unordered_map<Subscriber*, std::unique_ptr<Subscriber>> subscribers_;
  std::vector<std::unique_ptr<Subscriber>> dead_subscribers_;
};

Worker::~Worker() {
  subscribers_.clear();
  dead_subscribers_.clear();
  close_all();
  if (loop_ok_) {
    uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks, which free the handles
    if (uv_loop_close(&loop_) != 0) {
      LOG_WARN("uv_loop_close() found handles still open at exit");
    }
  }
}

int Worker::run() {
  if (!setup_loop() || !setup_pools() || !setup_streams() || !setup_key_reload() || !setup_listeners() ||
      !stop_signals_.start(&loop_, args_.master_alive_fd, [this](const char* why) { stop(why); })) {
    return kExitFatal;
  }
  ctx_.table.claim_slot(args_.slot, getpid(), shm::SlotRole::proxy, args_.generation);
  LOG_INFO("worker for slot %u ready (generation %u)", args_.slot, args_.generation);
  uv_run(&loop_, UV_RUN_DEFAULT);
  return kExitOk;
}

bool Worker::setup_loop() {
  int r = uv_loop_init(&loop_);
  if (r != 0) {
    LOG_ERROR("uv_loop_init() failed (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  loop_ok_ = true;
  ctx_.loop = &loop_;
  ctx_.config = args_.config;
  ctx_.slot = args_.slot;
  uv_idle_init(&loop_, reaper_.get());
  reaper_.initialized();
  reaper_.get()->data = this;
  uv_timer_init(&loop_, stop_deadline_.get());
  stop_deadline_.initialized();
  stop_deadline_.get()->data = this;
  uv_timer_init(&loop_, health_watch_.get());
  health_watch_.initialized();
  health_watch_.get()->data = this;
  return true;
}

// Maps each configured backend to its row in the shared table by pool and
// address, and resolves its socket address once.
bool Worker::setup_pools() {
  for (const conf::Pool& pool : args_.config->pools) {
    PoolRuntime rt;
    for (const conf::Backend& b : pool.backends) {
      std::string address = b.endpoint.to_string();
      uint32_t id = 0;
      while (id < ctx_.table.backend_count() &&
             (pool.name != ctx_.table.backend(id).pool || address != ctx_.table.backend(id).address)) {
        ++id;
      }
      if (id == ctx_.table.backend_count()) {
        LOG_ERROR("backend %s of pool %s is missing from the shared table", address.c_str(), pool.name.c_str());
        return false;
      }
      sockaddr_storage ss{};
      int r = b.endpoint.ipv6 ? uv_ip6_addr(b.endpoint.host.c_str(), b.endpoint.port, reinterpret_cast<sockaddr_in6*>(&ss))
                              : uv_ip4_addr(b.endpoint.host.c_str(), b.endpoint.port, reinterpret_cast<sockaddr_in*>(&ss));
      if (r != 0) {
        LOG_ERROR("cannot use address %s of pool %s (%s)", address.c_str(), pool.name.c_str(),
                  log::uv_error_text(r).c_str());
        return false;
      }
      rt.backend_ids.push_back(id);
      rt.addresses.push_back(ss);
    }
    ctx_.pools.push_back(std::move(rt));
  }
  uint32_t backends = ctx_.table.backend_count();
  ctx_.relaying_on.resize(backends);
  for (uint32_t id = 0; id < backends; ++id) {
    seen_changes_.push_back(ctx_.table.backend(id).state_changes.load(std::memory_order_acquire));
  }
  uv_timer_start(health_watch_.get(), &Worker::on_health_watch, 100, 100);
  return true;
}

// The master sends SIGHUP once it found the file valid: the auth keys files
// are read again, so a rotated key works (and a revoked one stops working)
// for every new handshake from then on.
bool Worker::setup_key_reload() {
  ctx_.auths = args_.config->auths;
  if (ctx_.auths.empty()) {
    return true;
  }
  int r = uv_signal_init(&loop_, sighup_.get());
  if (r == 0) {
    sighup_.initialized();
    sighup_.get()->data = this;
    r = uv_signal_start(sighup_.get(), &Worker::on_sighup, SIGHUP);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch SIGHUP (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void Worker::on_sighup(uv_signal_t* h, int) {
  if (auto* self = static_cast<Worker*>(h->data)) {
    self->reload_keys();
  }
}

void Worker::reload_keys() {
  conf::Config fresh;
  try {
    fresh = conf::load_config(args_.config->file);
  } catch (const conf::ConfigError& e) {
    LOG_ERROR("SIGHUP: keys not re-read: %s", e.what());
    return;
  }
  for (conf::Auth& a : ctx_.auths) {
    auto it = std::find_if(fresh.auths.begin(), fresh.auths.end(),
                           [&](const conf::Auth& f) { return f.name == a.name; });
    if (it == fresh.auths.end()) {
      LOG_WARN("SIGHUP: auth %s is gone from %s; its keys stay until a restart", a.name.c_str(),
               args_.config->file.c_str());
      continue;
    }
    a.keys = std::move(it->keys);
    LOG_INFO("SIGHUP: auth %s re-read: %zu keys", a.name.c_str(), a.keys.size());
  }
}

bool Worker::setup_streams() {
  if (args_.streams == nullptr) {
    return true;
  }
  StreamSetup setup;
  setup.config = args_.config;
  setup.header = args_.streams;
  setup.ranges = args_.stream_ranges;
  setup.slot = args_.slot;
  setup.wake_fd = args_.stream_wake_fd;
  setup.feeder_fd = args_.feeder_wake_fd;
  if (!hub_.start(&loop_, std::move(setup))) {
    return false;
  }
  ctx_.hub = &hub_;
  return true;
}

void Worker::adopt_subscriber(std::unique_ptr<TcpConn> conn, SubscriberStart start, const std::string& response_101,
                              std::string early) {
  auto s = std::make_unique<Subscriber>(ctx_, hub_, *this, std::move(conn), std::move(start));
  Subscriber* key = s.get();
  subscribers_.emplace(key, std::move(s));
  key->start(response_101, early);
}

void Worker::retire(Subscriber& s) {
  auto it = subscribers_.find(&s);
  if (it == subscribers_.end()) {
    return;
  }
  dead_subscribers_.push_back(std::move(it->second));
  subscribers_.erase(it);
  uv_idle_start(reaper_.get(), &Worker::on_idle);
}

bool Worker::setup_listeners() {
  for (int fd : args_.listen_fds) {
    auto h = std::make_unique<UvHandle<uv_tcp_t>>();
    int r = uv_tcp_init(&loop_, h->get());
    if (r == 0) {
      h->initialized();
      h->get()->data = this;
      r = uv_tcp_open(h->get(), fd);
    }
    if (r == 0) {
      r = uv_listen(h->stream(), SOMAXCONN, &Worker::on_connection);
    }
    if (r != 0) {
      LOG_ERROR("cannot serve listening socket fd %d (%s)", fd, log::uv_error_text(r).c_str());
      return false;
    }
    listeners_.push_back(std::move(h));
  }
  return true;
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Worker*>(server->data);
  if (self == nullptr) {
    return;
  }
  if (status != 0) {
    LOG_WARN("accept() failed (%s)", log::uv_error_text(status).c_str());
    return;
  }
  auto s = std::make_unique<Session>(self->ctx_, *self);
  if (!s->accept(server)) {
    return;  // the connection went away before we took it
  }
  Session* key = s.get();
  self->live_.emplace(key, std::move(s));
}

void Worker::retire(Session& s) {
  auto it = live_.find(&s);
  if (it == live_.end()) {
    return;
  }
  // Destroyed on the next loop turn, never inside its own callbacks.
  graveyard_.push_back(std::move(it->second));
  live_.erase(it);
  uv_idle_start(reaper_.get(), &Worker::on_idle);
}

void Worker::on_idle(uv_idle_t* h) {
  auto* self = static_cast<Worker*>(h->data);
  if (self != nullptr) {
    self->bury();
  }
}

void Worker::bury() {
  uv_idle_stop(reaper_.get());
  std::vector<std::unique_ptr<Session>> dead = std::move(graveyard_);
  dead.clear();
  std::vector<std::unique_ptr<Subscriber>> gone = std::move(dead_subscribers_);
  gone.clear();
  if (ctx_.stopping && live_.empty() && subscribers_.empty()) {
    close_all();
  }
}

void Worker::on_stop_deadline(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (self == nullptr) {
    return;
  }
  LOG_WARN("%zu sessions and %zu subscribers still open at the stop deadline; closing them", self->live_.size(),
           self->subscribers_.size());
  self->live_.clear();
  self->subscribers_.clear();
  self->close_all();
}

// Graceful stop: no new connections, every session closed with 1001 (or 503
// while still in its handshake), then exit once all are gone or at the deadline.
void Worker::stop(const char* why) {
  if (ctx_.stopping) {
    return;
  }
  ctx_.stopping = true;
  LOG_INFO("stopping (%s): %zu sessions and %zu subscribers to close", why, live_.size(), subscribers_.size());
  listeners_.clear();
  std::vector<Session*> open;
  for (auto& [key, s] : live_) {
    open.push_back(key);
  }
  for (Session* s : open) {
    s->shut_down();
  }
  std::vector<Subscriber*> subs;
  for (auto& [key, s] : subscribers_) {
    subs.push_back(key);
  }
  for (Subscriber* s : subs) {
    s->shut_down();
  }
  uint64_t deadline = static_cast<uint64_t>(args_.config->limits.close_timeout.count()) + 500;
  uv_timer_start(stop_deadline_.get(), &Worker::on_stop_deadline, deadline, 0);
  if (live_.empty() && subscribers_.empty()) {
    close_all();
  }
}

// The prober (or a worker's passive count) takes a backend down in shm; the
// sessions relaying to it here must learn it, or a frozen backend would hold
// them until their clients give up. Polled: a load per backend every 100 ms.
void Worker::on_health_watch(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (self != nullptr) {
    self->check_backend_health();
  }
}

void Worker::check_backend_health() {
  for (uint32_t id = 0; id < seen_changes_.size(); ++id) {
    uint32_t changes = ctx_.table.backend(id).state_changes.load(std::memory_order_acquire);
    if (changes == seen_changes_[id]) {
      continue;
    }
    seen_changes_[id] = changes;
    if (ctx_.table.health(id) != shm::BackendState::down || ctx_.relaying_on[id].empty()) {
      continue;
    }
    std::vector<Session*> lost(ctx_.relaying_on[id].begin(), ctx_.relaying_on[id].end());
    for (Session* s : lost) {
      s->on_backend_lost("health checks found it down", false);
    }
  }
}

void Worker::close_all() {
  listeners_.clear();
  hub_.close();
  sighup_.close();
  stop_signals_.close();
  reaper_.close();
  stop_deadline_.close();
  health_watch_.close();
}

}  // namespace

int run_worker(const WorkerArgs& args) {
  Worker w(args);
  return w.run();
}

}  // namespace wsgate::worker
