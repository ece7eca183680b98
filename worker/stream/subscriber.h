// A client of a stream route after its 101: wsgate itself is its server. It
// receives the channel's messages as shared, pre-encoded frames through a
// bounded queue (the stream's slow_subscriber policy applies past the bound),
// may have to send its key first (auth from: first_message), and its own
// messages are dropped or refused with 1003; pings are answered here.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "shm/channel_table.h"
#include "worker/conn/conn_timer.h"
#include "worker/conn/connection.h"
#include "worker/conn/ip_limit.h"
#include "worker/conn/keepalive.h"
#include "worker/conn/keepalive_cycle.h"
#include "worker/conn/session_stats.h"
#include "worker/conn/worker_context.h"
#include "worker/net/tcp_conn.h"
#include "worker/net/uv_handle.h"
#include "worker/stream/frame_queue.h"
#include "worker/stream/stream_hub.h"
#include "worker/ws/frame_codec.h"
#include "worker/ws/message_rules.h"

namespace wsgate::worker {

struct SubscriberStart {
  const conf::Route* route = nullptr;  // into `live`, which the subscriber keeps alive
  std::shared_ptr<LiveConfig> live;
  std::string channel_path;           // per_path: the client's path; single: ""
  std::optional<shm::Joined> joined;  // reserved at the handshake; nullopt until a first-message key
  std::string client_ip;
  IpLease ip_lease;          // its count under limits.max_connections_per_ip
  uint64_t accepted_ms = 0;  // uv_now() when its connection was accepted
  std::string client;        // "ip:port", for the access log
};

class Subscriber final : public Connection, public StreamListener, private ByteSink {
 public:
  Subscriber(WorkerContext& ctx, StreamHub& hub, ConnectionHost& host, std::unique_ptr<TcpConn> conn,
             SubscriberStart start);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Sends the 101, then waits for the key or starts delivery, then handles
  // the frames the client sent right behind its request.
  void start(const std::string& response_101, std::string_view early);
  // Graceful stop of the worker: close 1001.
  void shut_down() override;

  // --- StreamListener ---
  bool on_stream_frames(const FrameRef* frames, size_t n) override;
  bool on_stream_gap(uint64_t missed) override;

 private:
  enum class State { open, closing, done };

  // --- TcpConnOwner ---
  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn&) override {}
  // --- ByteSink: the codec's control frames ---
  void append(const uint8_t* data, size_t n) override { control_out_.append(reinterpret_cast<const char*>(data), n); }

  bool on_chunk(const FrameChunk& chunk);
  void on_control();
  void on_message_bytes(const FrameChunk& chunk);
  void authenticate();
  void begin_delivery();
  bool queue_frame(const FrameRef& frame);
  void send_control(uint8_t op, const uint8_t* data, size_t n, bool must);
  void close_with(uint16_t code, std::string_view reason);
  void leave_channel();
  bool flush_or_finish();
  void finish();
  static void on_queue_event(void* user, int status);
  // Keep-alive (routes[].ping_interval, worker/conn/keepalive_cycle.h): on
  // timer_ while open and not waiting for a key.
  friend struct KeepaliveCycle<Subscriber>;
  bool keepalive_owns_timer() const;
  const conf::Route& keepalive_route() const { return *start_.route; }
  uint64_t now_ms() const { return uv_now(ctx_.loop); }
  void send_keepalive_ping();
  void drop_half_open();
  // The one timer: the key's timeout, keep-alive, close_timeout.
  friend class ConnTimer<Subscriber>;
  void on_timer_due();
  // Observability: the slot's metrics row and the access-log line (once).
  void count_close(bool sent, uint16_t code);
  void end_stats();

  WorkerContext& ctx_;
  StreamHub& hub_;
  ConnectionHost& host_;
  std::unique_ptr<TcpConn> conn_;
  SubscriberStart start_;
  const conf::Stream& stream_;
  const conf::Auth* auth_ = nullptr;
  FrameQueue queue_;
  FrameCodec codec_;
  MessageRules rules_;
  ConnTimer<Subscriber> timer_;
  State state_ = State::open;
  Keepalive keepalive_;        // 4 bytes, in what was padding after state_
  bool attached_ = false;      // in the hub's list (and counted in shm)
  bool awaiting_key_ = false;  // auth from first_message, not received yet
  bool close_received_ = false;
  bool close_sent_ = false;
  bool refusing_message_ = false;  // a message being dropped (client_messages: drop)
  std::string first_message_;      // the key message, bounded
  std::string control_out_;
  uint64_t dropped_ = 0;  // messages this subscriber missed (drop_oldest, or a ring overrun)
  SessionStats stats_;
};

}  // namespace wsgate::worker
