// One connection to the admin endpoint: HTTP/1.1 with keep-alive, one
// request at a time, each judged (admin_guard.h) and answered from the
// shared tables. Bounded: a request head over kMaxAdminRequest bytes is
// refused (431), a body over kMaxAdminBody (413), a connection that sends
// no complete request within kAdminIdleMs of its accept or last answer is
// closed, and reading stops while more than kAdminHighWater bytes of
// answers wait to be written. How many connections there may be is the
// server's bound (admin_server.cpp).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "conf/endpoint.h"
#include "shm/layout.h"
#include "shm/stream_layout.h"
#include "worker/admin/admin_http.h"
#include "worker/net/buffer_pool.h"
#include "worker/net/tcp_conn.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

inline constexpr size_t kMaxAdminRequest = 16 * 1024;
inline constexpr size_t kMaxAdminBody = 1024;
inline constexpr uint64_t kAdminIdleMs = 5000;
inline constexpr size_t kAdminHighWater = 1024 * 1024;

struct AdminShared {
  uv_loop_t* loop = nullptr;
  conf::Endpoint address;  // the admin address: the Host every request must name
  shm::Table* table = nullptr;  // written only by the control paths (worker/admin/admin_control.h)
  const shm::StreamsHeader* streams = nullptr;
  BufferPool buffers;
  std::vector<uint8_t> read_storage = std::vector<uint8_t>(16 * 1024);
  uint64_t turns = 0;  // counts accepts and answers: orders connections by how long they wait
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
  // The server needs the room for a newer connection: close now and hand
  // the connection back (on_done).
  void evict();
  // The client's address, without the port: the server bounds connections
  // per client.
  const std::string& client() const { return client_; }
  // When this connection last had an answer (or was accepted), in
  // AdminShared::turns: the one waiting longest for its next request is
  // evicted first. A count, not a clock: many accepts share a millisecond.
  uint64_t waiting_since() const { return waiting_since_; }

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
  AdminRequestReader reader_{kMaxAdminRequest, kMaxAdminBody};
  std::string client_;
  uint64_t waiting_since_ = 0;
  std::string received_;  // bytes not yet consumed by a request, at most kMaxAdminRequest + one read
  bool closing_ = false;  // answered with Connection: close; waiting for the write
  bool finished_ = false;
};

}  // namespace wsgate::worker
