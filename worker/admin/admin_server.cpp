#include "worker/admin/admin_server.h"

#include <unistd.h>
#include <uv.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "shm/backend_table.h"
#include "worker/admin/admin_conn.h"
#include "worker/net/event_loop.h"
#include "worker/log/log.h"
#include "worker/net/log_upkeep.h"
#include "worker/net/stop_signals.h"
#include "worker/net/uv_handle.h"
#include "worker/net/exit_codes.h"

namespace wsgate::worker {

namespace {

// Scrapers and operators, not clients: a few connections at a time is
// plenty, and the bound keeps a runaway script from holding fds.
constexpr size_t kMaxAdminConnections = 64;

class AdminServer {
 public:
  explicit AdminServer(const AdminArgs& args) : args_(args) {}
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  int run();

 private:
  bool listen();
  void stop(const char* why);
  static void on_connection(uv_stream_t* server, int status);
  void accept_one(uv_stream_t* server);
  void retire(AdminConn& c);
  static void on_reap(uv_idle_t* h);

  const AdminArgs& args_;
  EventLoop loop_;  // before every handle's owner: destroyed after them
  AdminShared shared_;
  UvHandle<uv_tcp_t> listener_;
  UvHandle<uv_idle_t> reaper_;
  StopSignals stop_signals_;
  LogUpkeep log_upkeep_;
  std::unordered_map<AdminConn*, std::unique_ptr<AdminConn>> live_;
  std::vector<std::unique_ptr<AdminConn>> graveyard_;
};

AdminServer::~AdminServer() {
  graveyard_.clear();
  live_.clear();
  listener_.close();
  reaper_.close();
  stop_signals_.close();
  log_upkeep_.close();
}

int AdminServer::run() {
  if (!loop_.init()) {
    return kExitFatal;
  }
  shared_.loop = loop_.get();
  shared_.table = args_.table;
  shared_.streams = args_.streams;
  if (!stop_signals_.start(loop_.get(), args_.master_alive_fd, [this](const char* why) { stop(why); }) ||
      !log_upkeep_.start(loop_.get()) || !listen()) {
    return kExitFatal;
  }
  shm::BackendTable(*args_.table).claim_slot(args_.slot, getpid(), shm::SlotRole::admin, args_.generation);
  LOG_INFO("admin endpoint for slot %u ready on %s (generation %u)", args_.slot,
           args_.config->admin ? args_.config->admin->to_string().c_str() : "?", args_.generation);
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  return kExitOk;
}

bool AdminServer::listen() {
  int r = uv_idle_init(loop_.get(), reaper_.get());
  if (r == 0) {
    reaper_.initialized();
    reaper_.get()->data = this;
    r = uv_tcp_init(loop_.get(), listener_.get());
  }
  if (r == 0) {
    listener_.initialized();
    listener_.get()->data = this;
    r = uv_tcp_open(listener_.get(), args_.listen_fd);
  }
  if (r == 0) {
    r = uv_listen(listener_.stream(), SOMAXCONN, &AdminServer::on_connection);
  }
  if (r != 0) {
    LOG_ERROR("cannot serve the admin socket fd %d (%s)", args_.listen_fd, log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void AdminServer::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<AdminServer*>(server->data);
  if (self == nullptr) {
    return;
  }
  if (status != 0) {
    LOG_WARN("accept() on the admin socket failed (%s)", log::uv_error_text(status).c_str());
    return;
  }
  self->accept_one(server);
}

// Past the bound the connection is accepted and closed at once: left in the
// queue it would only wait there.
void AdminServer::accept_one(uv_stream_t* server) {
  auto c = std::make_unique<AdminConn>(shared_, [this](AdminConn& done) { retire(done); });
  if (!c->accept(server)) {
    return;
  }
  if (live_.size() >= kMaxAdminConnections) {
    LOG_WARN("more than %zu admin connections at once; closing a new one", kMaxAdminConnections);
    c->close();
    graveyard_.push_back(std::move(c));
    uv_idle_start(reaper_.get(), &AdminServer::on_reap);
    return;
  }
  AdminConn* key = c.get();
  live_.emplace(key, std::move(c));
}

void AdminServer::retire(AdminConn& c) {
  auto it = live_.find(&c);
  if (it == live_.end()) {
    return;
  }
  // Destroyed on the next loop turn, never inside its own callbacks.
  graveyard_.push_back(std::move(it->second));
  live_.erase(it);
  uv_idle_start(reaper_.get(), &AdminServer::on_reap);
}

void AdminServer::on_reap(uv_idle_t* h) {
  auto* self = static_cast<AdminServer*>(h->data);
  if (self != nullptr) {
    uv_idle_stop(h);
    self->graveyard_.clear();
  }
}

// Nothing here holds state worth a grace period: close everything and let
// the loop end.
void AdminServer::stop(const char* why) {
  LOG_INFO("stopping (%s)", why);
  listener_.close();
  for (auto& [key, conn] : live_) {
    conn->close();
  }
  reaper_.close();
  stop_signals_.close();
  log_upkeep_.close();
}

}  // namespace

int run_admin(const AdminArgs& args) {
  AdminServer server(args);
  return server.run();
}

}  // namespace wsgate::worker
