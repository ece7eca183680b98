// A pool route's client session, from the moment its request passed the
// checks (worker/edge/intake.h) to the last close, in the order data flows:
// dial a backend (with retries) -> its 101 -> relay frames both ways
// (worker/proxy/relay.h) -> close both sides with the right codes. A lost or
// drained backend is replaced without the client noticing where the pool
// allows it (the reconnecting stage), else the client is closed with 1012.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "conf/config.h"
#include "worker/conn/conn_timer.h"
#include "worker/conn/connection.h"
#include "worker/conn/ip_limit.h"
#include "worker/conn/keepalive.h"
#include "worker/conn/keepalive_cycle.h"
#include "worker/conn/session_stats.h"
#include "worker/conn/worker_context.h"
#include "worker/net/tcp_conn.h"
#include "worker/proxy/dial.h"
#include "worker/proxy/relay.h"
#include "worker/ws/client_handshake.h"
#include "worker/ws/http_error.h"
#include "worker/ws/upstream_handshake.h"

namespace wsgate::worker {

// What the intake hands over with an accepted client of a pool route.
struct SessionStart {
  std::unique_ptr<TcpConn> conn;     // still reading: bytes behind the request are the session's
  std::shared_ptr<LiveConfig> live;  // the session keeps it: route points into it
  const conf::Route* route = nullptr;
  std::string received;  // the request, then the client's early frames (H9)
  size_t header_size = 0;
  std::unique_ptr<RequestReader> reader;  // holds the parsed request
  std::string client_ip;
  IpLease ip_lease;    // its count under limits.max_connections_per_ip
  SessionStats stats;  // so far: accepted_ms, client, path
};

class Session final : public Connection, private RelayHost, private PausedWatch::Watched {
 public:
  // The slot's connection count taken at accept is the session's from here.
  Session(WorkerContext& ctx, ConnectionHost& host, SessionStart start);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Picks a backend and dials it.
  void start();
  // Graceful stop: a session still dialing gets 503; one relaying gets a
  // close 1001 on both sides, and one reconnecting a 1001 to its client.
  void shut_down() override;
  // The backend this session relays to was found down (health checks, or its
  // connection dropped): apply the pool's on_backend_loss policy.
  // `count_failure`: the loss is a passive health signal (a dropped
  // connection), not the prober's verdict already in shm.
  void on_backend_lost(const std::string& why, bool count_failure);
  // Runtime control (worker/edge/drainer.cpp: drain, rebalance): moves this
  // relaying session off its backend in `delay_ms` — to another backend
  // without the client noticing in pools with on_backend_loss: reconnect,
  // else with close 1012 so the client reconnects elsewhere. False when it is
  // not relaying or a move is already due.
  bool schedule_move(uint64_t delay_ms);

 private:
  // dialing -> relaying -> closing -> done, with two detours: relaying ->
  // reconnecting -> relaying (a backend replaced under the client), and
  // dialing -> answering -> done (an HTTP refusal, then the linger).
  enum class Stage : uint8_t {
    dialing,       // picking and dialing backends until one sends its 101 (hs_ set)
    relaying,      // frames flow both ways; keep-alive may hold the timer
    reconnecting,  // the client is open, a new backend is dialed (hs_ set); its bytes are held
    closing,       // a close frame went out; close_timeout holds the timer
    lingering,     // relay over; a side that may still send is read and dropped until it closes
    answering,     // an HTTP error went to the client; waiting for it to leave
    done,          // retired: nothing more runs
  };

  // One WebSocket peer: its connection, and (while relaying) its framing and rules.
  struct Side final : RelayPeer {
    Side(Session& s, bool is_backend);                    // a new connection (a backend)
    Side(Session& s, std::unique_ptr<TcpConn> accepted);  // the client's, from the intake
    // The codec writes into the connection's output queue.
    void append(const uint8_t* data, size_t n) override { conn->append(data, n); }
    std::unique_ptr<TcpConn> conn;
  };

  // --- TcpConnOwner ---
  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn& c) override;

  void on_held_client_bytes(const uint8_t* data, size_t n);
  bool has_dial() const { return stage_ == Stage::dialing || stage_ == Stage::reconnecting; }

  // --- the dial's outcomes (worker/proxy/dial.h) ---
  void on_upgraded(const std::string& protocol, std::string_view rest);
  void on_dial_exhausted();
  void abandon_attempt();
  void release_backend();
  std::string backend_label() const;

  // --- relay (worker/proxy/relay.h) ---
  void start_relay(const std::string& response_101, std::string_view backend_rest);
  void relay_early_bytes(std::string_view from_backend, std::string_view from_client);
  void pump(Side& src, const uint8_t* data, size_t n);
  Relay relay() { return Relay(*this, *client_, *backend_, relay_, stats_); }
  Side& other(Side& s) { return &s == client_.get() ? *backend_ : *client_; }
  Side& side_of(TcpConn& c);
  // --- RelayHost ---
  void flush_peer(RelayPeer& p) override { static_cast<Side&>(p).conn->flush(); }
  void stop_reading(RelayPeer& p) override { static_cast<Side&>(p).conn->stop_reading(); }
  void count_close(const RelayPeer& p, bool sent, uint16_t code) override;
  void on_closing() override;
  void on_backend_done() override { release_backend(); }
  void on_relay_over() override;
  std::string label(const RelayPeer& p) const override;

  // --- backpressure (worker/conn/paused_watch.h) ---
  void pause(Side& src);
  void resume(Side& src);
  void on_paused_check(PausedWatch::Entry& e, uint64_t now_ms) override;
  bool check_paused_side(Side& s);
  conf::Duration stall_limit() const;

  // --- backend loss ---
  bool can_move() const;
  void start_reconnect();
  void resume_relay(std::string_view leftover);
  void give_up_reconnect(uint16_t code, const std::string& why);
  void schedule_loss_close();
  void register_relaying(bool on);
  void hold_client_bytes(const uint8_t* data, size_t n);
  const ClientRequest& request() const;

  static void on_move_due(Session& s);
  void move_off();

  // --- closing ---
  void side_gone(Side& s, uint16_t other_code);
  void retire_if_flushed();
  static bool wants_linger(const Side& s);
  void linger_or_retire(conf::Duration linger);
  void linger_discard(size_t n);
  void linger_check();
  void answer(const HttpError& e);
  void answer_raw(const std::string& response, int status);
  void retire();

  // --- observability: metrics row and access log ---
  void count_handshake(int status);
  void publish_flow(const Side& src, const FlowCount& before);
  void end_stats();  // once: sessions_closed and the access-log line

  // --- keep-alive toward the client (routes[].ping_interval, worker/conn/keepalive_cycle.h) ---
  friend struct KeepaliveCycle<Session>;
  bool keepalive_owns_timer() const;
  const conf::Route& keepalive_route() const { return *route_; }
  uint64_t now_ms() const { return uv_now(ctx_.loop); }
  void send_keepalive_ping();
  void drop_half_open();

  // --- timer ---
  // One timer per session, owned by one phase at a time: the dial, a loss
  // close, close_timeout, the linger after an answer, or (relaying) the keep-alive.
  friend class ConnTimer<Session>;
  void on_timer_due();

  WorkerContext& ctx_;
  ConnectionHost& host_;
  // The config this session started with: route_, pool_ and pool_rt_ point
  // into it, so a reload that swaps the worker's config cannot free them.
  std::shared_ptr<LiveConfig> live_;
  Stage stage_ = Stage::dialing;
  RelayState relay_;         // 2 bytes: both closes done; a client message being dropped
  bool registered_ = false;  // in WorkerContext::relaying_on[counted backend]
  Keepalive keepalive_;      // 4 bytes: with the three above, what was padding
  std::unique_ptr<Side> client_;
  std::unique_ptr<Side> backend_;
  ConnTimer<Session> timer_;

  // While dialing or reconnecting: the request, the dial, failed attempts.
  struct Handshake;
  std::unique_ptr<Handshake> hs_;

  // The backend this session counts against in shm (pool-relative index).
  std::optional<size_t> counted_;
  const conf::Route* route_ = nullptr;
  const conf::Pool* pool_ = nullptr;
  PoolRuntime* pool_rt_ = nullptr;
  // Kept only in pools with on_backend_loss: reconnect, to replay the upgrade.
  std::unique_ptr<ClientRequest> saved_request_;
  std::string client_ip_;
  IpLease ip_lease_;       // limits.max_connections_per_ip
  std::string protocol_;   // the subprotocol the client was given
  uint64_t lingered_ = 0;  // bytes dropped while lingering (kLingerMaxBytes)
  SessionStats stats_;
};

}  // namespace wsgate::worker
