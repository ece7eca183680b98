// One health check on the prober's loop: a TCP connect, then the
// conversation of worker/prober/prober_exchange.h over a TcpConn, ended by the
// first of success, failure or the owner's timeout. The result is reported
// once; the check is then inert and may be destroyed outside its callbacks.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "worker/net/buffer_pool.h"
#include "worker/net/pending_connect.h"
#include "worker/net/random_bytes.h"
#include "worker/net/tcp_conn.h"
#include "worker/prober/prober_exchange.h"
#include "worker/ws/frame_codec.h"

namespace wsgate::worker {

// What every check of one prober shares.
struct ProberContext {
  uv_loop_t* loop = nullptr;
  BufferPool buffers;
  FrameContextPool frames{fill_random};  // masked output only: the prober is the backends' client
  std::vector<uint8_t> read_storage = std::vector<uint8_t>(16 * 1024);
  ReadBuffer read_buffer() { return ReadBuffer{read_storage.data(), read_storage.size()}; }
};

struct ProbeOutcome {
  bool ok = false;
  int64_t rtt_us = 0;  // connect start to pong; valid when ok
  std::string error;   // valid when !ok
};

class ProbeCheck final : public TcpConnOwner {
 public:
  using Done = std::function<void(const ProbeOutcome&)>;

  // `host` is sent as the Host header ("127.0.0.1:9001"); `done` is called
  // exactly once, possibly from inside start().
  ProbeCheck(ProberContext& ctx, const sockaddr_storage& address, std::string host, std::string path, Done done);
  ~ProbeCheck();
  ProbeCheck(const ProbeCheck&) = delete;
  ProbeCheck& operator=(const ProbeCheck&) = delete;

  void start();
  // The owner's deadline passed: fails the check, naming what was awaited.
  void time_out(int64_t timeout_ms);
  bool finished() const { return finished_; }

 private:
  friend class PendingConnect;
  void on_connect_done(int status);
  void after(ProbeExchange::Phase before);
  void finish(bool ok, std::string error);

  // --- TcpConnOwner ---
  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn&) override {}

  sockaddr_storage address_;
  Done done_;
  TcpConn conn_;
  SinkTo<TcpConn> sink_{conn_};  // the exchange's way into conn_
  ProbeExchange exchange_;
  PendingConnect connect_;  // cut loose when an abandoned check goes first
  uint64_t started_ns_ = 0;
  int64_t rtt_us_ = 0;
  bool connected_ = false;
  bool finished_ = false;
};

}  // namespace wsgate::worker
