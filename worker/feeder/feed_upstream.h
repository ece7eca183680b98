// One upstream connection of a stream channel, held by the feeder: dial the
// source, upgrade (the same ResponseReader a session judges backends with),
// send the on_connect_send messages, then read whole messages (reassembling
// fragments, within the ring's record limit) and hand each to the feeder.
// Pings from the source are answered; a quiet source is pinged, and one that
// stays silent is given up as lost, so a half-open source is noticed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "worker/net/buffer_pool.h"
#include "worker/net/pending_connect.h"
#include "worker/net/pending_resolve.h"
#include "worker/net/random_bytes.h"
#include "worker/net/tcp_conn.h"
#include "worker/net/tls_client_context.h"
#include "worker/net/uv_handle.h"
#include "worker/ws/frame_codec.h"
#include "worker/ws/message_rules.h"
#include "worker/ws/upstream_handshake.h"

namespace wsgate::worker {

// What every upstream of the feeder shares.
struct FeederResources {
  uv_loop_t* loop = nullptr;
  BufferPool buffers;
  FrameContextPool masked{fill_random};  // frames to sources
  std::vector<uint8_t> read_storage = std::vector<uint8_t>(64 * 1024);
  ReadBuffer read_buffer() { return ReadBuffer{read_storage.data(), read_storage.size()}; }
};

class FeedUpstreamHost {
 public:
  virtual void on_upstream_up(class FeedUpstream& u) = 0;
  // One whole data message (opcode text or binary).
  virtual void on_upstream_message(FeedUpstream& u, uint8_t op, const std::string& payload) = 0;
  // Every message of one read has been handed over.
  virtual void on_upstream_batch_end(FeedUpstream& u) = 0;
  // The connection failed or ended; `was_up`: it had upgraded. The host
  // destroys it later, never inside this call.
  virtual void on_upstream_down(FeedUpstream& u, bool was_up, const std::string& why) = 0;

 protected:
  ~FeedUpstreamHost() = default;
};

struct FeedTarget {
  const conf::SourceUrl* source = nullptr;
  const conf::Stream* stream = nullptr;     // headers, origin, subprotocols, tls.server_name
  std::shared_ptr<TlsClientContext> tls;    // set for a wss:// source
  std::string path;                     // request target (source path, plus the channel path)
  std::vector<std::string> on_connect;  // ${path} already filled in
  conf::Duration connect_timeout{};
  uint64_t max_message = 0;  // larger -> close 1009 and reconnect
  uint32_t channel = 0;      // for the host
};

class FeedUpstream final : public TcpConnOwner {
 public:
  FeedUpstream(FeederResources& res, FeedUpstreamHost& host, FeedTarget target);
  ~FeedUpstream();
  FeedUpstream(const FeedUpstream&) = delete;
  FeedUpstream& operator=(const FeedUpstream&) = delete;

  void start();
  // Ends it on purpose (no subscribers left): close 1000, then the TCP close.
  void close_gracefully();
  const FeedTarget& target() const { return target_; }
  bool up() const { return stage_ == Stage::relaying; }
  // "TLSv1.3, resumed" for logs; empty on a ws:// source.
  std::string tls_summary() const;

 private:
  enum class Stage { resolving, connecting, upgrading, relaying, closing, down };

  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn&) override {}

  friend class PendingConnect;
  friend class PendingResolve;
  void on_resolved(int status, PendingResolve::Addresses addresses);
  void dial_next();
  // A failure before the upgrade completed: the next resolved address, or
  // fail() with every attempt's reason once none is left.
  void attempt_failed(const std::string& why);
  void on_connect_done(int status);
  void on_response_bytes(const uint8_t* data, size_t n);
  void on_frame_bytes(const uint8_t* data, size_t n);
  bool on_chunk(const FrameChunk& chunk);
  void send_close(uint16_t code, std::string_view reason);
  void fail(const std::string& why);
  static void on_timer(uv_timer_t* t);
  void arm(conf::Duration d);

  FeederResources& res_;
  FeedUpstreamHost& host_;
  FeedTarget target_;
  Stage stage_ = Stage::connecting;
  std::unique_ptr<TcpConn> conn_;
  std::vector<std::unique_ptr<TcpConn>> spent_;  // failed attempts' connections, freed with this
  PendingResolve resolve_;
  PendingResolve::Addresses addresses_;
  size_t next_address_ = 0;
  std::string attempts_;  // reasons so far, for the final message
  PendingConnect connect_;
  UvHandle<uv_timer_t> timer_;
  ClientRequest request_;  // what the 101 is judged against
  std::string received_;
  std::unique_ptr<ResponseReader> response_;
  std::unique_ptr<SinkTo<TcpConn>> sink_;  // the codec's way into conn_
  std::unique_ptr<FrameCodec> codec_;
  std::unique_ptr<MessageRules> rules_;
  std::string message_;
  uint8_t message_op_ = 0;
  int64_t last_heard_ms_ = 0;
  bool ping_outstanding_ = false;
};

}  // namespace wsgate::worker
