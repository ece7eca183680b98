#include "worker/admin/admin_server.h"

#include <uv.h>

#include <memory>
#include <unordered_map>

#include "worker/admin/admin_conn.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"
#include "worker/net/fd_watch.h"
#include "worker/net/role_runtime.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

namespace {

// Scrapers and operators, not clients: a few connections at a time is
// plenty, and the bound keeps a runaway script from holding fds. A new
// connection is never the one turned away, or idle connections (70 kept
// open by any local user) would lock the scraper out: past a bound the
// connection that has waited longest for its next request is closed
// instead — the same client's first when that client is past its own bound.
constexpr size_t kMaxAdminConnections = 64;
constexpr size_t kMaxAdminConnectionsPerClient = 16;

class AdminServer {
 public:
  explicit AdminServer(const AdminArgs& args)
      : args_(args), runtime_({args.table, args.slot, args.generation, shm::SlotRole::admin, args.master_alive_fd}) {}
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  int run();

 private:
  bool listen();
  void stop(const char* why);
  static void on_connection(uv_stream_t* server, int status);
  void accept_one(uv_stream_t* server);
  void make_room_for(const AdminConn& c);
  void retire(AdminConn& c);

  const AdminArgs& args_;
  RoleRuntime runtime_;  // before every handle's owner: destroyed after them
  AdminShared shared_;
  UvHandle<uv_tcp_t> listener_;
  std::unordered_map<AdminConn*, std::unique_ptr<AdminConn>> live_;
  RateLimit evict_log_{kFdWarnEveryMs};
};

AdminServer::~AdminServer() {
  runtime_.graveyard().clear();
  live_.clear();
  listener_.close();
  runtime_.close();
}

int AdminServer::run() {
  if (!runtime_.start([this](const char* why) { stop(why); })) {
    return kExitFatal;
  }
  shared_.loop = runtime_.loop();
  shared_.table = args_.table;
  shared_.streams = args_.streams;
  if (args_.config->admin) {
    shared_.address = *args_.config->admin;
  }
  if (!listen()) {
    return kExitFatal;
  }
  runtime_.ready("admin endpoint for slot %u ready on %s (generation %u)", args_.slot,
                 args_.config->admin ? args_.config->admin->to_string().c_str() : "?", args_.generation);
  return runtime_.run();
}

bool AdminServer::listen() {
  int r = listener_.init(uv_tcp_init, runtime_.loop(), this);
  if (r == 0) {
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
    FdWatch::accept_failed(server->loop, status, "accept() on the admin socket");
    return;
  }
  self->accept_one(server);
}

void AdminServer::accept_one(uv_stream_t* server) {
  auto c = std::make_unique<AdminConn>(shared_, [this](AdminConn& done) { retire(done); });
  if (!c->accept(server)) {
    runtime_.graveyard().bury(std::move(c));
    return;
  }
  make_room_for(*c);
  AdminConn* key = c.get();
  live_.emplace(key, std::move(c));
}

void AdminServer::make_room_for(const AdminConn& c) {
  size_t same_client = 0;
  for (const auto& [key, conn] : live_) {
    same_client += conn->client() == c.client() ? 1 : 0;
  }
  const bool per_client = same_client >= kMaxAdminConnectionsPerClient;
  if (!per_client && live_.size() < kMaxAdminConnections) {
    return;
  }
  AdminConn* oldest = nullptr;
  for (const auto& [key, conn] : live_) {
    if ((!per_client || conn->client() == c.client()) &&
        (oldest == nullptr || conn->waiting_since() < oldest->waiting_since())) {
      oldest = key;
    }
  }
  if (oldest == nullptr) {
    return;
  }
  if (evict_log_.allow(uv_now(runtime_.loop()))) {
    const std::string who = per_client ? std::to_string(kMaxAdminConnectionsPerClient) + " admin connections from " +
                                             c.client()
                                       : std::to_string(kMaxAdminConnections) + " admin connections";
    LOG_INFO("%s at once: closing the one waiting longest for a request (%llu more since the last such line)",
             who.c_str(), static_cast<unsigned long long>(evict_log_.suppressed()));
  }
  oldest->evict();  // retire() takes it out of live_
}

void AdminServer::retire(AdminConn& c) {
  auto it = live_.find(&c);
  if (it == live_.end()) {
    return;
  }
  // Destroyed on the next loop turn, never inside its own callbacks.
  runtime_.graveyard().bury(std::move(it->second));
  live_.erase(it);
}

// Nothing here holds state worth a grace period: close everything and let
// the loop end.
void AdminServer::stop(const char* why) {
  LOG_INFO("stopping (%s)", why);
  listener_.close();
  for (auto& [key, conn] : live_) {
    conn->close();
  }
  runtime_.close();
}

}  // namespace

int run_admin(const AdminArgs& args) {
  AdminServer server(args);
  return server.run();
}

}  // namespace wsgate::worker
