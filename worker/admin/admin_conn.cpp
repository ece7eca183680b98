#include "worker/admin/admin_conn.h"

#include "shm/backend_table.h"
#include "worker/admin/admin_control.h"
#include "worker/admin/admin_guard.h"
#include "worker/admin/admin_routes.h"
#include "worker/log/log.h"

namespace wsgate::worker {

AdminConn::AdminConn(AdminShared& shared, std::function<void(AdminConn&)> on_done)
    : shared_(shared),
      on_done_(std::move(on_done)),
      conn_(shared.loop, shared.buffers, ReadBuffer{shared.read_storage.data(), shared.read_storage.size()}, *this) {}

AdminConn::~AdminConn() {
  idle_.close();
  conn_.close();
}

bool AdminConn::accept(uv_stream_t* server) {
  if (idle_.init(uv_timer_init, shared_.loop, this) != 0) {
    return false;
  }
  if (conn_.init() != 0 || uv_accept(server, conn_.stream()) != 0) {
    return false;
  }
  client_ = conn_.peer_name(false);
  arm_idle();
  int r = conn_.start_reading();
  if (r != 0) {
    LOG_WARN("read_start() failed (%s) on an admin connection", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void AdminConn::close() {
  idle_.close();
  conn_.close();
}

void AdminConn::evict() {
  done();
  conn_.close();  // the fd now: the room is for a connection waiting to be served
}

void AdminConn::on_conn_read(TcpConn&, const uint8_t* data, size_t n) {
  if (closing_ || finished_) {
    return;  // after a Connection: close answer nothing more is read
  }
  received_.append(reinterpret_cast<const char*>(data), n);
  serve_buffered();
}

// Answers every complete request buffered, in order, until one is missing
// bytes or the answers queued pass the high-water mark (reading resumes when
// they are flushed).
void AdminConn::serve_buffered() {
  while (!closing_ && !finished_ && !received_.empty()) {
    if (conn_.pending() > kAdminHighWater) {
      conn_.stop_reading();
      return;
    }
    switch (reader_.parse(received_)) {
      case AdminRequestReader::Status::need_more: return;
      case AdminRequestReader::Status::error: refuse(reader_.error_status(), reader_.error_text()); return;
      case AdminRequestReader::Status::done: break;
    }
    const AdminRequest& req = reader_.request();
    std::optional<AdminResponse> refusal = guard_admin(req, shared_.address);
    if (refusal) {
      refuse(refusal->status, refusal->body.substr(0, refusal->body.size() - 1));
      return;
    }
    const std::optional<AdminResponse> control = control_admin(req, *shared_.table);
    const AdminResponse resp =
        control ? *control : route_admin(req, *shared_.table, shared_.streams, shm::monotonic_ms());
    conn_.append(format_admin_response(resp, req.keep_alive, req.method == "HEAD"));
    conn_.flush();
    received_.erase(0, reader_.consumed());
    if (!req.keep_alive) {
      closing_ = true;
      conn_.shutdown_after_flush();
    }
    reader_.reset();
    arm_idle();
  }
}

void AdminConn::refuse(int status, const std::string& why) {
  AdminResponse r;
  r.status = status;
  r.body = why + "\n";
  conn_.append(format_admin_response(r, false, false));
  conn_.flush();
  closing_ = true;
  conn_.shutdown_after_flush();
  arm_idle();  // the peer gets that long to read the answer and close
}

void AdminConn::on_conn_eof(TcpConn&) { done(); }

void AdminConn::on_conn_error(TcpConn&, int uv_status, const char* while_doing) {
  if (uv_status != UV_ECONNRESET && uv_status != UV_EPIPE) {
    LOG_INFO("%s an admin connection failed (%s)", while_doing, log::uv_error_text(uv_status).c_str());
  }
  done();
}

void AdminConn::on_conn_flushed(TcpConn&) {
  if (finished_ || closing_) {
    return;
  }
  conn_.start_reading();
  serve_buffered();
}

void AdminConn::arm_idle() {
  waiting_since_ = ++shared_.turns;
  uv_timer_start(idle_.get(), &AdminConn::on_idle_timeout, kAdminIdleMs, 0);
}

void AdminConn::on_idle_timeout(uv_timer_t* t) {
  if (auto* self = static_cast<AdminConn*>(t->data)) {
    self->done();
  }
}

void AdminConn::done() {
  if (finished_) {
    return;
  }
  finished_ = true;
  uv_timer_stop(idle_.get());
  conn_.stop_reading();
  on_done_(*this);
}

}  // namespace wsgate::worker
