// One client's way to a backend of its pool: pick one (routing.h: least
// connections or round robin, weights ramped by slow_start), connect
// (PendingConnect), send the upgrade request, judge the answer. A failed
// attempt counts against that backend's health and the next one is tried, up
// to the pool's retries. A Session holds one while it has no backend: before
// its first 101, and while reconnecting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "worker/conn/worker_context.h"
#include "worker/net/pending_connect.h"
#include "worker/net/tcp_conn.h"
#include "worker/ws/client_handshake.h"
#include "worker/ws/http_error.h"
#include "worker/ws/upstream_handshake.h"

namespace wsgate::worker {

class DialHost {
 public:
  // A fresh connection for the next attempt, owned by the host; its events
  // come back through Dial::on_bytes(), on_eof() and on_failure().
  virtual TcpConn& new_backend_conn() = 0;
  // The attempt's connection is given up: closed now, freed later (this may
  // run inside its own callback).
  virtual void drop_backend_conn() = 0;
  // Pool backend `i` counts this client from now on (sessions still dialing
  // steer others away); the host uncounts it when the attempt fails or ends.
  virtual void count_backend(size_t i) = 0;
  virtual void release_backend() = 0;
  // The attempt's deadline on the host's timer: Dial::on_timeout() when it passes.
  virtual void arm_dial_timer(conf::Duration d) = 0;
  // A backend sent a valid 101 choosing `protocol`; `rest` is what it sent
  // behind it (valid during the call).
  virtual void on_upgraded(const std::string& protocol, std::string_view rest) = 0;
  // A backend refused the upgrade itself (below 500): its answer is the client's (B1).
  virtual void on_refused(const std::string& response, int status) = 0;
  // No backend is left to try (or retries ran out).
  virtual void on_exhausted() = 0;

 protected:
  ~DialHost() = default;
};

class Dial {
 public:
  // `request` and `client_ip` outlive the dial.
  Dial(WorkerContext& ctx, DialHost& host, const conf::Pool& pool, PoolRuntime& rt, const ClientRequest& request,
       const std::string& client_ip);

  // Not tried again: the backend just lost or left.
  void exclude(size_t pool_backend) { tried_[pool_backend] = true; }
  // A reconnect: the client already speaks `protocol`, another one cannot take over.
  void require_protocol(const std::string& protocol) { required_protocol_ = &protocol; }
  // Picks the next backend and dials it, or tells the host it is exhausted.
  void next();

  // Events of the attempt's connection and timer, from the host.
  void on_bytes(const uint8_t* data, size_t n);
  void on_eof();
  void on_failure(const std::string& why);
  void on_timeout();
  // Connected, the upgrade sent: the connection's bytes and errors are the answer's.
  bool upgrading() const { return upgrading_; }
  // No callback from a pending connect reaches this dial any more.
  void cancel() { connect_.cancel(); }

  uint32_t attempts() const { return attempts_; }
  // The HTTP answer for a client nobody accepted: a backend's own 5xx when
  // one came (502), else 502 after attempts, else 503 with Retry-After.
  HttpError no_backend_error() const;
  const std::string& last_5xx() const { return last_5xx_; }

 private:
  friend class PendingConnect;
  void on_connect_done(int status);
  std::optional<size_t> pick() const;
  uint32_t effective_weight(size_t pool_backend, int64_t now) const;
  void dial(size_t pool_backend);
  void judge();
  void failed(const std::string& why);
  std::string label() const;

  WorkerContext& ctx_;
  DialHost& host_;
  const conf::Pool& pool_;
  PoolRuntime& rt_;
  const ClientRequest& request_;
  const std::string& client_ip_;
  const std::string* required_protocol_ = nullptr;
  std::vector<bool> tried_;  // per pool backend: already dialed for this client
  uint32_t attempts_ = 0;
  size_t current_ = 0;       // the backend of the attempt in progress
  TcpConn* conn_ = nullptr;  // its connection (the host's)
  bool upgrading_ = false;
  PendingConnect connect_;
  std::string key_;  // the Sec-WebSocket-Key sent to the backend
  std::string received_;
  std::unique_ptr<ResponseReader> response_;
  std::string last_5xx_;  // a backend's 5xx, passed on if no other backend does better
};

}  // namespace wsgate::worker
