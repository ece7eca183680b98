#include "worker/edge/worker.h"

#include <uv.h>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_set>

#include "conf/loader.h"
#include "conf/reload_plan.h"
#include "shm/backend_table.h"
#include "worker/conn/worker_context.h"
#include "worker/edge/connections.h"
#include "worker/edge/drainer.h"
#include "worker/edge/intake.h"
#include "worker/log/access_log.h"
#include "worker/log/log.h"
#include "worker/net/endpoint_address.h"
#include "worker/net/role_runtime.h"
#include "worker/net/ticket_keys.h"
#include "worker/net/tls_listener.h"
#include "worker/net/uv_handle.h"
#include "worker/stream/stream_hub.h"
#include "worker/stream/subscriber.h"

namespace wsgate::worker {

namespace {

class Worker final : public IntakeHost {
 public:
  explicit Worker(const WorkerArgs& args)
      : args_(args),
        runtime_({args.table, args.slot, args.generation, shm::SlotRole::proxy, args.master_alive_fd}),
        ctx_(*args.table),
        ticket_keys_(args.ticket_blob) {}
  ~Worker();
  int run();

 private:
  bool setup_loop();
  bool setup_pools();
  bool setup_streams();
  std::shared_ptr<LiveConfig> build_live(std::shared_ptr<const conf::Config> config);
  void install(std::shared_ptr<LiveConfig> live);
  void check_published_config();
  bool setup_listeners();
  bool load_tls();  // builds tls_ from the published certificates
  void check_published_tls();
  void stop(const char* why);
  void drain();
  void check_drain();
  bool idle() const { return conns_.empty(); }
  void retire(Connection& c) override;
  void adopt_session(SessionStart start) override;
  void adopt_subscriber(std::unique_ptr<TcpConn> conn, SubscriberStart start, const std::string& response_101,
                        std::string early) override;
  void after_burial();
  void close_all();

  static void on_connection(uv_stream_t* server, int status);
  static void on_stop_deadline(uv_timer_t* t);
  static void on_health_watch(uv_timer_t* t);
  void check_backend_health();

  const WorkerArgs& args_;
  RoleRuntime runtime_;  // before every handle's owner: its loop outlives them
  WorkerContext ctx_;
  std::vector<std::unique_ptr<UvHandle<uv_tcp_t>>> listeners_;
  TicketKeys ticket_keys_;
  // Per entry of config->listen: its TLS contexts, null for plain ws. A
  // connection keeps the TlsListener it was accepted with.
  std::vector<std::shared_ptr<TlsListener>> tls_;
  uint64_t seen_tls_ = 0;  // the published certificates' sequence in use
  UvHandle<uv_timer_t> stop_deadline_;
  UvHandle<uv_timer_t> health_watch_;
  Drainer drainer_;           // runtime control: drains and rebalances
  uint64_t seen_config_ = 0;  // the published config's sequence this worker has looked at
  // Draining (SIGQUIT, or an old generation after a reload): no accepting;
  // at the deadline in shm what is left gets 1001, spread over a window.
  bool draining_ = false;
  int64_t drain_closing_since_ms_ = 0;    // 0 until the deadline passed
  std::vector<Connection*> drain_order_;  // sessions and subscribers, shuffled
  size_t drain_closed_ = 0;
  std::vector<uint32_t> seen_changes_;  // per backend: state_changes last acted on
  StreamHub hub_;
  Connections conns_;  // after hub_: subscribers leave the hub as they go
};

Worker::~Worker() {
  // What waits in the graveyard may still use the hub and the context.
  conns_.clear();
  runtime_.graveyard().clear();
  close_all();
}

int Worker::run() {
  if (!setup_loop() || !setup_pools() || !setup_streams() || !load_tls() || !setup_listeners() ||
      !drainer_.start(ctx_) ||
      !log::open_configured_access_log(args_.config->log)) {
    return kExitFatal;
  }
  runtime_.ready("worker for slot %u ready (generation %u)", args_.slot, args_.generation);
  return runtime_.run();
}

bool Worker::setup_loop() {
  if (!runtime_.start([this](const char* why) { stop(why); }, [this] { drain(); }, [this] { after_burial(); })) {
    return false;
  }
  ctx_.loop = runtime_.loop();
  ctx_.config = args_.config;
  ctx_.slot = args_.slot;
  int r = stop_deadline_.init(uv_timer_init, ctx_.loop, this);
  if (r == 0) {
    r = health_watch_.init(uv_timer_init, ctx_.loop, this);
  }
  if (r != 0) {
    LOG_ERROR("uv_timer_init() failed (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

// Maps each configured backend to its row in the shared table by pool and
// address, and resolves its socket address once. Null (logged) when a row
// is missing or an address does not parse.
std::shared_ptr<LiveConfig> Worker::build_live(std::shared_ptr<const conf::Config> config) {
  auto live = std::make_shared<LiveConfig>();
  live->config = std::move(config);
  for (const conf::Pool& pool : live->config->pools) {
    PoolRuntime rt;
    for (const conf::Backend& b : pool.backends) {
      std::string address = b.endpoint.to_string();
      auto id = ctx_.table.find_backend(pool.name, address);
      if (!id) {
        LOG_ERROR("backend %s of pool %s is missing from the shared table", address.c_str(), pool.name.c_str());
        return nullptr;
      }
      sockaddr_storage ss{};
      const int r = endpoint_address(b.endpoint, ss);
      if (r != 0) {
        LOG_ERROR("cannot use address %s of pool %s (%s)", address.c_str(), pool.name.c_str(),
                  log::uv_error_text(r).c_str());
        return nullptr;
      }
      rt.backend_ids.push_back(*id);
      rt.addresses.push_back(ss);
    }
    live->pools.push_back(std::move(rt));
  }
  return live;
}

// From here on new sessions use `live`; running ones keep theirs.
void Worker::install(std::shared_ptr<LiveConfig> live) {
  ctx_.live = std::move(live);
  ctx_.config = ctx_.live->config.get();
  const uint32_t backends = ctx_.table.backend_count();
  ctx_.relaying_on.resize(std::max<size_t>(ctx_.relaying_on.size(), backends));
  while (seen_changes_.size() < backends) {
    seen_changes_.push_back(
        ctx_.table.backend(static_cast<uint32_t>(seen_changes_.size())).state_changes.load(std::memory_order_acquire));
  }
}

bool Worker::setup_pools() {
  // The config lives in the master's image, copied into this process at
  // fork(): nothing to free, hence the empty deleter.
  auto live = build_live(std::shared_ptr<const conf::Config>(args_.config, [](const conf::Config*) {}));
  if (!live) {
    return false;
  }
  install(std::move(live));
  ctx_.auths = args_.config->auths;
  seen_config_ = args_.blob != nullptr ? args_.blob->sequence() : 0;
  uv_timer_start(health_watch_.get(), &Worker::on_health_watch, 100, 100);
  return true;
}

// A reload that changes pools, backends, limits or auth keys only: the
// master updated the table and published the text; this worker parses it
// (re-reading the keys files) and swaps it in. Polled with the health watch.
void Worker::check_published_config() {
  if (args_.blob == nullptr || draining_ || ctx_.stopping || args_.blob->sequence() == seen_config_) {
    return;
  }
  auto published = args_.blob->read();
  if (!published) {
    return;  // being written: next tick
  }
  seen_config_ = published->second;
  conf::Config fresh;
  try {
    fresh = conf::load_config_text(published->first, args_.config->file);
  } catch (const conf::ConfigError& e) {
    LOG_ERROR("reload: the published configuration does not load in this worker (%s); keeping the running one",
              e.what());
    return;
  }
  const conf::ReloadPlan plan = conf::plan_reload(*ctx_.config, fresh);
  if (plan.kind != conf::ReloadKind::in_place) {
    return;  // nothing for this worker, or a new generation replaces it
  }
  auto live = build_live(std::make_shared<const conf::Config>(std::move(fresh)));
  if (!live) {
    LOG_ERROR("reload: keeping the running configuration");
    return;
  }
  // Same auth rules (else it would be a new generation): only the keys move,
  // in place, so subscribers' pointers to their auth block stay valid.
  for (size_t i = 0; i < ctx_.auths.size() && i < live->config->auths.size(); ++i) {
    if (ctx_.auths[i].keys != live->config->auths[i].keys) {
      ctx_.auths[i].keys = live->config->auths[i].keys;
      LOG_INFO("auth %s: %zu keys from %s", ctx_.auths[i].name.c_str(), ctx_.auths[i].keys.size(),
               ctx_.auths[i].keys_file.c_str());
    }
  }
  install(std::move(live));
  LOG_INFO("reload applied in place (%s)", plan.summary().c_str());
}

// The certificates the master read and checked: every TLS listener gets its
// contexts, or the worker does not start (a reload keeps the old ones).
bool Worker::load_tls() {
  const conf::Config& config = *args_.config;
  if (!config.has_tls()) {
    return true;
  }
  auto published = args_.tls_blob != nullptr ? args_.tls_blob->read() : std::nullopt;
  auto material = published ? TlsMaterial::parse(published->first) : std::nullopt;
  if (!material) {
    LOG_ERROR("TLS: the master published no certificates this worker can read");
    return false;
  }
  std::vector<std::shared_ptr<TlsListener>> fresh(config.listen.size());
  for (size_t i = 0; i < config.listen.size(); ++i) {
    const conf::Listen& l = config.listen[i];
    if (!l.tls) {
      continue;
    }
    const ListenerPem* pem = material->find(l.address.to_string());
    std::string why = "no certificates published for it";
    if (pem != nullptr) {
      fresh[i] = TlsListener::build(*l.tls, *pem, &ticket_keys_, &why);
    }
    if (!fresh[i]) {
      LOG_ERROR("TLS listener %s: %s", l.address.to_string().c_str(), why.c_str());
      return false;
    }
  }
  tls_ = std::move(fresh);
  seen_tls_ = published->second;
  return true;
}

// Certificates changed on SIGHUP: new handshakes use the new contexts.
void Worker::check_published_tls() {
  if (args_.tls_blob == nullptr || !args_.config->has_tls() || args_.tls_blob->sequence() == seen_tls_) {
    return;
  }
  const uint64_t before = seen_tls_;
  if (load_tls()) {
    LOG_INFO("TLS: new certificates in use for new connections");
  } else {
    seen_tls_ = args_.tls_blob->sequence();  // not again every tick; the next change is tried
    LOG_ERROR("TLS: keeping the certificates in use (sequence %llu)", static_cast<unsigned long long>(before));
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
  if (!hub_.start(ctx_.loop, std::move(setup))) {
    return false;
  }
  ctx_.hub = &hub_;
  return true;
}

void Worker::adopt_subscriber(std::unique_ptr<TcpConn> conn, SubscriberStart start, const std::string& response_101,
                              std::string early) {
  auto s = std::make_unique<Subscriber>(ctx_, hub_, *this, std::move(conn), std::move(start));
  Subscriber* sub = s.get();
  conns_.add(std::move(s), Connections::Kind::subscriber);
  sub->start(response_101, early);
}

bool Worker::setup_listeners() {
  for (int fd : args_.listen_fds) {
    auto h = std::make_unique<UvHandle<uv_tcp_t>>();
    int r = h->init(uv_tcp_init, ctx_.loop, this);
    if (r == 0) {
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
    FdWatch::accept_failed(server->loop, status, "accept()");  // rate limited
    return;
  }
  // Certificates a SIGHUP published are used from the next accept on, not
  // from the next health tick: a reload is done once the master says so.
  self->check_published_tls();
  std::shared_ptr<TlsListener> tls;
  for (size_t i = 0; i < self->listeners_.size(); ++i) {
    if (self->listeners_[i]->stream() == server && i < self->args_.listen_entries.size()) {
      const uint32_t entry = self->args_.listen_entries[i];
      tls = entry < self->tls_.size() ? self->tls_[entry] : nullptr;
    }
  }
  auto intake = std::make_unique<Intake>(self->ctx_, *self);
  if (!intake->accept(server, std::move(tls))) {
    return;  // the connection went away before we took it
  }
  self->conns_.add(std::move(intake), Connections::Kind::session);
}

// Registered before it starts: starting may already end it (no backend).
void Worker::adopt_session(SessionStart start) {
  auto s = std::make_unique<Session>(ctx_, *this, std::move(start));
  Session* session = s.get();
  conns_.add(std::move(s), Connections::Kind::session);
  session->start();
}

void Worker::retire(Connection& c) {
  runtime_.graveyard().bury(conns_.retire(c));  // destroyed on the next loop turn
}

void Worker::after_burial() {
  if ((ctx_.stopping || draining_) && idle()) {
    close_all();
  }
}

void Worker::on_stop_deadline(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (self == nullptr) {
    return;
  }
  LOG_WARN("%zu sessions and %zu subscribers still open at the stop deadline; closing them",
           self->conns_.count(Connections::Kind::session), self->conns_.count(Connections::Kind::subscriber));
  self->conns_.clear();
  self->close_all();
}

// Graceful stop: no new connections, every session closed with 1001 (or 503
// while still in its handshake), then exit once all are gone or at the deadline.
void Worker::stop(const char* why) {
  if (ctx_.stopping) {
    return;
  }
  ctx_.stopping = true;
  LOG_INFO("stopping (%s): %zu sessions and %zu subscribers to close", why, conns_.count(Connections::Kind::session),
           conns_.count(Connections::Kind::subscriber));
  listeners_.clear();
  for (Connection* c : conns_.list()) {
    c->shut_down();
  }
  // Without a master (kill -9) nothing else will clean up after this
  // process: it leaves within a quarter second instead of waiting for replies.
  // By content: a constexpr pointer to a literal may point at a different
  // copy of it in each translation unit.
  const uint64_t deadline = std::string_view(why) == StopSignals::kMasterGone
                                ? 250
                                : static_cast<uint64_t>(ctx_.config->limits.close_timeout.count()) + 500;
  uv_timer_start(stop_deadline_.get(), &Worker::on_stop_deadline, deadline, 0);
  if (conns_.empty()) {
    close_all();
  }
}

// SIGQUIT (from the master: a newer generation accepts now, or wsgate
// stops gracefully): stop accepting and let sessions end by themselves. The
// sockets stay open in the master, so connections queued on them are
// accepted by the newer generation, never dropped.
void Worker::drain() {
  if (draining_ || ctx_.stopping) {
    return;
  }
  draining_ = true;
  listeners_.clear();
  LOG_INFO("draining: no new connections; %zu sessions and %zu subscribers may finish",
           conns_.count(Connections::Kind::session), conns_.count(Connections::Kind::subscriber));
  if (idle()) {
    close_all();
  }
}

// Polled: starts the drain when the master's SIGQUIT came before this
// process watched for it, and past the deadline in shm closes what is left
// with 1001, a share every tick, so the clients' reconnects are spread.
void Worker::check_drain() {
  const int64_t deadline = ctx_.table.slot(args_.slot).drain_deadline_ms.load(std::memory_order_acquire);
  if (deadline == 0 || ctx_.stopping) {
    return;
  }
  if (!draining_) {
    drain();
  }
  const int64_t now = shm::monotonic_ms();
  if (now < deadline || idle()) {
    return;
  }
  if (drain_closing_since_ms_ == 0) {
    drain_closing_since_ms_ = now;
    drain_order_ = conns_.list();
    std::shuffle(drain_order_.begin(), drain_order_.end(), std::mt19937(static_cast<uint32_t>(getpid())));
    LOG_INFO("drain deadline: closing %zu sessions and subscribers with 1001", drain_order_.size());
  }
  const int64_t spread = ctx_.config->drain.spread().count();
  const int64_t elapsed = now - drain_closing_since_ms_;
  const size_t due = spread <= 0 || elapsed >= spread ? drain_order_.size()
                                                      : static_cast<size_t>(drain_order_.size() * elapsed / spread) + 1;
  for (; drain_closed_ < std::min(due, drain_order_.size()); ++drain_closed_) {
    Connection* c = drain_order_[drain_closed_];
    if (conns_.contains(c)) {
      c->shut_down();
    }
  }
  if (drain_closed_ < drain_order_.size()) {
    return;
  }
  // A handshake in flight at the deadline may have become a subscriber
  // since: it gets the same.
  std::unordered_set<Connection*> done(drain_order_.begin(), drain_order_.end());
  for (Connection* c : conns_.list()) {
    if (!done.count(c)) {
      drain_order_.push_back(c);
      ++drain_closed_;
      c->shut_down();
    }
  }
}

// The prober (or a worker's passive count) takes a backend down in shm; the
// sessions relaying to it here must learn it, or a frozen backend would hold
// them until their clients give up. Polled: a load per backend every 100 ms.
void Worker::on_health_watch(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (self != nullptr) {
    self->check_backend_health();
    self->check_published_config();
    self->check_published_tls();
    self->check_drain();
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
  // First: it destroys what waits in the graveyard, and a subscriber leaves
  // the hub as it goes.
  runtime_.close();
  hub_.close();
  stop_deadline_.close();
  health_watch_.close();
  drainer_.close();
}

}  // namespace

int run_worker(const WorkerArgs& args) {
  int code = kExitFatal;
  {
    Worker w(args);
    code = w.run();
  }
  log::flush();  // sessions destroyed with the worker logged their last lines
  return code;
}

}  // namespace wsgate::worker
