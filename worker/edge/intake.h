// A client connection from accept until wsgate knows what serves it: per-IP
// admission, the upgrade request read and validated (checklist H1-H8), the
// route found and its checks passed (origin, max_connections, auth, the
// pool's handshake rate). Refusals are answered here as HTTP errors; an
// accepted client is handed over with its connection: to a proxy Session on
// a pool route, to a stream Subscriber on a stream route.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"
#include "worker/conn/conn_timer.h"
#include "worker/conn/connection.h"
#include "worker/conn/ip_limit.h"
#include "worker/conn/session_stats.h"
#include "worker/conn/worker_context.h"
#include "worker/net/tcp_conn.h"
#include "worker/net/tls_listener.h"
#include "worker/proxy/session.h"
#include "worker/stream/subscriber.h"
#include "worker/ws/client_handshake.h"
#include "worker/ws/http_error.h"

namespace wsgate::worker {

class IntakeHost : public ConnectionHost {
 public:
  // A pool route's client passed its checks: a proxy Session dials for it.
  virtual void adopt_session(SessionStart start) = 0;
  // A stream route's client passed its handshake: from here on it is a
  // subscriber, served by wsgate itself. Takes the connection.
  virtual void adopt_subscriber(std::unique_ptr<TcpConn> conn, SubscriberStart start, const std::string& response_101,
                                std::string early) = 0;

 protected:
  ~IntakeHost() = default;
};

class Intake final : public Connection {
 public:
  Intake(WorkerContext& ctx, IntakeHost& host);
  ~Intake() override;
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // Takes the next connection from `server`; false when there was none.
  // With `tls` (a TLS listener's contexts) the client speaks TLS first.
  bool accept(uv_stream_t* server, std::shared_ptr<TlsListener> tls);
  // Graceful stop: a client still sending its request gets 503.
  void shut_down() override;

 private:
  enum class Stage : uint8_t { request, answering, done };

  // --- TcpConnOwner ---
  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn&) override {}

  bool admit_address();
  void on_request(const ClientRequest& req);
  const conf::Route* find_route(const std::string& path) const;
  void start_session();
  void start_stream(const ClientRequest& req);
  void answer(const HttpError& e);
  void retire();
  void count_handshake(int status);
  void count_tls(shm::TlsOutcome outcome);
  void note_tls_established();  // once the request came: ok or resumed, the version
  void end_stats();  // once: the access-log line of a refused client

  friend class ConnTimer<Intake>;
  void on_timer_due();

  WorkerContext& ctx_;
  IntakeHost& host_;
  // The config the client is judged by and, once handed over, served with.
  std::shared_ptr<LiveConfig> live_;
  std::unique_ptr<TcpConn> conn_;
  ConnTimer<Intake> timer_;  // handshake_timeout, then the linger after an answer
  Stage stage_ = Stage::request;
  bool connection_counted_ = false;  // in the slot's connections, until handed over
  std::string received_;             // the request, then the client's early frames (H9)
  std::unique_ptr<RequestReader> reader_;
  const conf::Route* route_ = nullptr;
  const conf::Pool* pool_ = nullptr;  // a pool route's, once its handshake rate is asked
  std::string client_ip_;
  IpLease ip_lease_;  // limits.max_connections_per_ip
  SessionStats stats_;
};

}  // namespace wsgate::worker
