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
  if (tls_ && open() && write_req_ == nullptr && out_.empty()) {
    // At a record boundary: tell the peer this is the end, not a cut
    // (best effort: a full socket buffer drops it, as it drops the FIN's data).
    Bytes notify;
    tls_->set_output(&notify);
    tls_->close_notify();
    if (!notify.empty()) {
      (void)try_send(notify.data(), notify.size());
    }
  }
  tls_.reset();
  tls_owner_.reset();
  if (plain_.capacity() != 0) {
    pool_.give(std::move(plain_));
    plain_ = Bytes();
  }
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
  } else if (self->tls_) {
    self->on_tls_read(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n));
  } else {
    self->owner_->on_conn_read(*self, reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n));
  }
}

void TcpConn::append(const uint8_t* data, size_t n) {
  if (n == 0 || !open()) {
    return;
  }
  Bytes& queue = tls_ ? plain_ : out_;
  if (queue.capacity() == 0) {
    queue = pool_.take();
  }
  queue.insert(queue.end(), data, data + n);
}

void TcpConn::flush() {
  if (tls_ && write_req_ == nullptr && !encrypt_plain()) {
    return;
  }
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
  if (!self->out_.empty() || !self->plain_.empty()) {
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
  if (tls_ && open()) {
    if (!encrypt_plain()) {
      return;
    }
    if (out_.capacity() == 0) {
      out_ = pool_.take();
    }
    tls_->close_notify();
    shutdown_wanted_ = true;
    flush();
    if (open() && shutdown_wanted_ && write_req_ == nullptr && out_.empty()) {
      do_shutdown();  // nothing went out (no handshake yet): the FIN alone
    }
    return;
  }
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

// ---------------------------------------------------------------- TLS

bool TcpConn::start_tls(SSL_CTX* ctx, std::shared_ptr<const void> owner) {
  tls_owner_ = std::move(owner);
  tls_ = TlsStream::server(ctx);
  if (!tls_) {
    return false;
  }
  tls_->set_output(&out_);
  return true;
}

bool TcpConn::start_tls_client(std::unique_ptr<TlsStream> stream, std::shared_ptr<const void> owner) {
  if (!stream || !open()) {
    return false;
  }
  tls_owner_ = std::move(owner);
  tls_ = std::move(stream);
  if (out_.capacity() == 0) {
    out_ = pool_.take();
  }
  tls_->set_output(&out_);
  tls_->set_input(nullptr, 0);
  if (tls_->handshake() == TlsStream::Result::failed) {
    return false;
  }
  flush();  // the ClientHello
  return open();
}

namespace {

// Plaintext of one read: decrypted records are handed over together, as a
// plain connection hands over a whole read. Shared by every connection of
// the process (the owner consumes it before the next read); room for a
// full read buffer plus a record OpenSSL held back from the previous one.
std::vector<uint8_t>& plaintext_buffer(size_t read_size) {
  static std::vector<uint8_t> buf;
  const size_t want = read_size + 17 * 1024;
  if (buf.size() < want) {
    buf.resize(want);
  }
  return buf;
}

}  // namespace

void TcpConn::on_tls_read(const uint8_t* data, size_t n) {
  if (out_.capacity() == 0) {
    out_ = pool_.take();
  }
  tls_->set_input(data, n);
  if (!tls_->established()) {
    const TlsStream::Result r = tls_->handshake();
    if (r == TlsStream::Result::failed) {
      tls_failed("in the TLS handshake");
      return;
    }
    if (r == TlsStream::Result::more) {
      send_records_now();
      return;
    }
  }
  std::vector<uint8_t>& buf = plaintext_buffer(read_buf_.size);
  size_t used = 0;
  TlsStream::Result r = TlsStream::Result::more;
  for (;;) {
    const size_t k = tls_->read(buf.data() + used, buf.size() - used, &r);
    used += k;
    if (k > 0 && used < buf.size()) {
      continue;
    }
    // All of a read goes to the owner at once, as on a plain connection,
    // also when the owner pauses reading inside the call: OpenSSL keeps only
    // a partial record, so nothing of this read is left to resume from.
    if (used > 0) {
      owner_->on_conn_read(*this, buf.data(), used);
      used = 0;
      if (!tls_ || !open()) {
        return;
      }
    }
    if (k == 0) {
      break;
    }
  }
  if (r == TlsStream::Result::closed) {
    send_records_now();
    stop_reading();
    owner_->on_conn_eof(*this);
  } else if (r == TlsStream::Result::failed) {
    tls_failed("reading");
  } else {
    send_records_now();  // post-handshake messages: tickets, key updates
  }
}

void TcpConn::send_records_now() { flush(); }

bool TcpConn::encrypt_plain() {
  if (plain_.empty() || !tls_->established()) {
    return true;  // before the handshake ends plaintext waits (and is dropped at close)
  }
  if (out_.capacity() == 0) {
    out_ = pool_.take();
  }
  const bool ok = tls_->write(plain_.data(), plain_.size());
  pool_.give(std::move(plain_));
  plain_ = Bytes();
  if (!ok) {
    tls_failed("writing");
  }
  return ok;
}

void TcpConn::tls_failed(const char* while_doing) {
  if (tls_->failure() == shm::TlsOutcome::plain_http) {
    // Whoever typed http:// learns why, in words a browser shows.
    static constexpr std::string_view kAnswer =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 52\r\nConnection: close\r\n\r\n"
        "This port speaks TLS: connect with wss:// (https://)\n";
    out_.clear();
    (void)try_send(reinterpret_cast<const uint8_t*>(kAnswer.data()), kAnswer.size());
  } else if (write_req_ == nullptr && !out_.empty()) {
    (void)try_send(out_.data(), out_.size());  // the alert, best effort
  }
  out_.clear();
  stop_reading();
  owner_->on_conn_error(*this, UV_EPROTO, while_doing);
}

}  // namespace wsgate::worker
