// One connection to the admin endpoint: HTTP/1.1 with keep-alive, one
// request at a time, each answered from the shared tables. Bounded: a
// request over kMaxAdminRequest bytes is refused (431), a connection that
// sends no complete request within kAdminIdleMs is closed, and reading stops
// while more than kAdminHighWater bytes of answers wait to be written.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shm/layout.h"
#include "shm/stream_layout.h"
#include "worker/admin/admin_http.h"
#include "worker/net/buffer_pool.h"
#include "worker/net/tcp_conn.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

inline constexpr size_t kMaxAdminRequest = 16 * 1024;
inline constexpr uint64_t kAdminIdleMs = 10000;
inline constexpr size_t kAdminHighWater = 1024 * 1024;

struct AdminShared {
  uv_loop_t* loop = nullptr;
  shm::Table* table = nullptr;  // written only by the control paths (worker/admin/admin_control.h)
  const shm::StreamsHeader* streams = nullptr;
  BufferPool buffers;
  std::vector<uint8_t> read_storage = std::vector<uint8_t>(16 * 1024);
};

class AdminConn final : public TcpConnOwner {
 public:
  // `on_done` hands the connection back to the server for destruction,
  // which must not happen inside its own callbacks.
  AdminConn(AdminShared& shared, std::function<void(AdminConn&)> on_done);
  ~AdminConn();
  AdminConn(const AdminConn&) = delete;
  AdminConn& operator=(const AdminConn&) = delete;

  // Takes the next connection from `server`; false when there was none.
  bool accept(uv_stream_t* server);
  // The server stops: close now, whatever is pending.
  void close();

 private:
  void on_conn_read(TcpConn& c, const uint8_t* data, size_t n) override;
  void on_conn_eof(TcpConn& c) override;
  void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) override;
  void on_conn_flushed(TcpConn& c) override;

  void serve_buffered();
  void refuse(int status, const std::string& why);
  void arm_idle();
  static void on_idle_timeout(uv_timer_t* t);
  void done();

  AdminShared& shared_;
  std::function<void(AdminConn&)> on_done_;
  TcpConn conn_;
  UvHandle<uv_timer_t> idle_;
  AdminRequestReader reader_{kMaxAdminRequest};
  std::string received_;  // bytes not yet consumed by a request, at most kMaxAdminRequest + one read
  bool closing_ = false;  // answered with Connection: close; waiting for the write
  bool finished_ = false;
};

}  // namespace wsgate::worker
