#include "worker/net/tcp_conn.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

namespace wsgate::worker {

// A write request owns the bytes it writes. If the connection dies first,
// libuv still calls on_write (UV_ECANCELED); `conn` is null by then.
struct TcpConn::WriteReq {
  uv_write_t req{};
  Bytes bytes;
  TcpConn* conn = nullptr;
};

struct TcpConn::ShutdownReq {
  uv_shutdown_t req{};
  TcpConn* conn = nullptr;
};

TcpConn::TcpConn(uv_loop_t* loop, BufferPool& pool, ReadBuffer shared_read, TcpConnOwner& owner)
    : loop_(loop), pool_(pool), read_buf_(shared_read), owner_(&owner) {}

TcpConn::~TcpConn() { close(); }

int TcpConn::init() { return handle_.init(uv_tcp_init, loop_, this); }

void TcpConn::close() {
  if (write_req_ != nullptr) {
    write_req_->conn = nullptr;
    write_req_ = nullptr;
  }
  if (shutdown_req_ != nullptr) {
    shutdown_req_->conn = nullptr;
    shutdown_req_ = nullptr;
  }
  in_flight_ = 0;
  if (out_.capacity() != 0) {
    pool_.give(std::move(out_));
    out_ = Bytes();
  }
  reading_ = false;
  handle_.close();
}

int TcpConn::start_reading() {
  if (reading_ || !open()) {
    return 0;
  }
  int r = uv_read_start(stream(), &TcpConn::on_alloc, &TcpConn::on_read);
  reading_ = (r == 0);
  return r;
}

void TcpConn::stop_reading() {
  if (reading_ && open()) {
    uv_read_stop(stream());
  }
  reading_ = false;
}

void TcpConn::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpConn*>(h->data);
  // Every read is consumed synchronously in on_read, so all connections of
  // the worker can share one large buffer: no per-connection read memory.
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buf_.data), static_cast<unsigned>(self->read_buf_.size));
}

void TcpConn::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<TcpConn*>(s->data);
  if (self == nullptr || n == 0) {
    return;
  }
  if (n == UV_EOF) {
    self->stop_reading();
    self->owner_->on_conn_eof(*self);
  } else if (n < 0) {
    self->stop_reading();
    self->owner_->on_conn_error(*self, static_cast<int>(n), "reading");
  } else {
    self->owner_->on_conn_read(*self, reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n));
  }
}

void TcpConn::append(const uint8_t* data, size_t n) {
  if (n == 0 || !open()) {
    return;
  }
  if (out_.capacity() == 0) {
    out_ = pool_.take();
  }
  out_.insert(out_.end(), data, data + n);
}

void TcpConn::flush() {
  if (write_req_ != nullptr || out_.empty() || !open()) {
    return;
  }
  // Most writes fit the socket buffer: try them now and skip a loop turn.
  int r = try_send(out_.data(), out_.size());
  if (r == static_cast<int>(out_.size())) {
    pool_.give(std::move(out_));
    out_ = Bytes();
    if (shutdown_wanted_) {
      do_shutdown();
    }
    return;
  }
  if (r < 0 && r != UV_EAGAIN) {
    owner_->on_conn_error(*this, r, "writing");
    return;
  }
  if (r > 0) {
    out_.erase(out_.begin(), out_.begin() + r);
  }
  start_write();
}

// What uv_try_write() does, with send() instead of write(): a socket's
// send() skips the VFS layer that write() goes through (file position lock,
// rw_verify_area, security hooks), and this is one system call per relayed
// batch. Only called with no uv_write in flight, so the order of bytes holds.
int TcpConn::try_send(const uint8_t* data, size_t n) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(handle_.get()), &fd) != 0) {
    return UV_EBADF;
  }
  for (;;) {
    ssize_t r = ::send(fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) {
      return static_cast<int>(r);
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? UV_EAGAIN : -errno;
  }
}

void TcpConn::start_write() {
  auto req = std::make_unique<WriteReq>();
  req->bytes = std::move(out_);
  out_ = Bytes();
  req->conn = this;
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(req->bytes.data()), static_cast<unsigned>(req->bytes.size()));
  int r = uv_write(&req->req, stream(), &b, 1, &TcpConn::on_write);
  if (r != 0) {
    pool_.give(std::move(req->bytes));
    owner_->on_conn_error(*this, r, "writing");
    return;
  }
  in_flight_ = req->bytes.size();
  write_req_ = req.release();  // libuv holds it until on_write
}

void TcpConn::on_write(uv_write_t* raw, int status) {
  std::unique_ptr<WriteReq> req(reinterpret_cast<WriteReq*>(raw));
  TcpConn* self = req->conn;
  if (self == nullptr) {
    return;  // the connection was closed while this write was in flight
  }
  self->write_req_ = nullptr;
  self->in_flight_ = 0;
  self->pool_.give(std::move(req->bytes));
  if (status != 0) {
    self->owner_->on_conn_error(*self, status, "writing");
    return;
  }
  if (!self->out_.empty()) {
    self->flush();
    // flush() may have written everything at once (no callback will follow)
    // or failed (the owner knows); only a queue that is now empty is flushed.
    if (self->write_req_ != nullptr || !self->open() || !self->out_.empty()) {
      return;
    }
  }
  if (self->shutdown_wanted_) {
    self->do_shutdown();
  }
  self->owner_->on_conn_flushed(*self);
}

void TcpConn::shutdown_after_flush() {
  shutdown_wanted_ = true;
  if (pending() == 0) {
    do_shutdown();
  }
}

void TcpConn::do_shutdown() {
  if (shutdown_req_ != nullptr || !open()) {
    return;
  }
  shutdown_wanted_ = false;
  auto req = std::make_unique<ShutdownReq>();
  req->conn = this;
  if (uv_shutdown(&req->req, stream(), &TcpConn::on_shutdown) == 0) {
    shutdown_req_ = req.release();
  }
}

void TcpConn::on_shutdown(uv_shutdown_t* raw, int) {
  std::unique_ptr<ShutdownReq> req(reinterpret_cast<ShutdownReq*>(raw));
  if (req->conn != nullptr) {
    req->conn->shutdown_req_ = nullptr;
  }
}

std::string TcpConn::peer_name(bool with_port) const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (!open() || uv_tcp_getpeername(handle_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "?";
  }
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    return with_port ? "[" + std::string(ip) + "]:" + std::to_string(port) : ip;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  port = ntohs(a->sin_port);
  std::string name(ip);
  if (with_port) {
    name.append(":").append(std::to_string(port));
  }
  return name;
}

}  // namespace wsgate::worker
