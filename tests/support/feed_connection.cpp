#include "tests/support/feed_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <memory>

#include "tests/support/feed_request.h"
#include "tests/support/feed_server.h"
#include "tests/support/http_head.h"

namespace wsgate::test {

namespace {

// A write owns its bytes until libuv is done with them.
struct WriteReq {
  uv_write_t req{};
  std::string data;
};

struct ShutdownReq {
  uv_shutdown_t req{};
};

constexpr std::uint64_t kCloseReplyWaitMs = 5000;  // after our close, before we drop TCP
constexpr std::uint64_t kLingerMs = 2000;          // after our FIN, waiting for the peer's
constexpr std::size_t kMaxSpare = 1024 * 1024;     // larger write buffers are not kept

std::string peer_name(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "unknown peer";
  char host[64] = "";
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  uv_ip4_name(a, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
}

}  // namespace

FeedConnection::FeedConnection(FeedServer& server) : server_(server) {}

// ---------------------------------------------------------------- lifecycle

bool FeedConnection::start(uv_stream_t* listener) {
  uv_loop_t* loop = server_.loop();
  int rc = tcp_.init([loop](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, this);
  if (rc == 0) rc = timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  if (rc < 0) {
    log_error("uv_tcp_init()/uv_timer_init() failed (" + uv_error_text(rc) + ") while accepting");
    return false;
  }
  if ((rc = uv_accept(listener, tcp_.stream())) < 0) {
    log_error("accept() failed (" + uv_error_text(rc) + ") while accepting a connection");
    return false;
  }
  uv_tcp_nodelay(tcp_.get(), 1);  // a feed's point is latency
  peer_ = peer_name(tcp_.get());
  rc = uv_read_start(tcp_.stream(), &FeedConnection::on_alloc, &FeedConnection::on_read);
  if (rc < 0) {
    log_error("uv_read_start() failed (" + uv_error_text(rc) + ")");
    return false;
  }
  return true;
}

void FeedConnection::end() {
  if (ended_) return;
  ended_ = true;
  leave_channel();
  timer_.close();
  tcp_.close();  // cancels pending writes; their callbacks see data == nullptr
  server_.retire(this);
}

void FeedConnection::leave_channel() {
  if (!joined_) return;
  joined_ = false;
  server_.leave(this, channel_);
}

void FeedConnection::drop() {
  if (ended_) return;
  log_info("drop: resetting TCP without a close frame");
  // SO_LINGER {on, 0}: close() sends an RST at once instead of a FIN after
  // the queued output, which is what a crashed or cut-off upstream looks like.
  uv_os_fd_t fd;
  if (uv_fileno(tcp_.base(), &fd) == 0) {
    const linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  end();
}

void FeedConnection::drop_slow() {
  server_.count_slow_drop();
  log_info("over " + std::to_string(kMaxBacklog) + " bytes unsent; dropping the slow subscriber");
  end();
}

void FeedConnection::go_away() {
  if (state_ == State::kOpen) {
    leave_channel();
    send_frame(kClose, close_payload(1001, "feed source shutting down"));
    state_ = State::kCloseSent;
    arm_timer(kCloseReplyWaitMs);
    flush();
  } else if (state_ == State::kHead || fin_sent_) {
    end();  // nothing left to say; a draining peer's FIN is not worth the wait
  }
}

void FeedConnection::start_draining() {
  if (state_ == State::kDraining || ended_) return;
  state_ = State::kDraining;
  leave_channel();
  flush();
  if (tls_ && !ended_) {
    tls_->close_notify();  // after the last record, before our FIN
    flush();
  }
  if (ended_) return;
  // FIN after the queued writes; then wait for the peer's FIN so unread input
  // cannot turn our close into an RST that destroys the last bytes.
  auto req = std::make_unique<ShutdownReq>();
  req->req.data = req.get();
  const int rc = uv_shutdown(&req->req, tcp_.stream(), &FeedConnection::on_shutdown);
  if (rc < 0) {
    log_info("shutdown() failed (" + uv_error_text(rc) + ")");
    end();
    return;
  }
  (void)req.release();  // freed in on_shutdown
  arm_timer(kLingerMs);
}

void FeedConnection::arm_timer(std::uint64_t ms) {
  const int rc = uv_timer_start(timer_.get(), &FeedConnection::on_timer, ms, 0);
  assert(rc == 0 && "uv_timer_start on an initialized timer cannot fail");
  (void)rc;
}

void FeedConnection::on_timer(uv_timer_t* t) {
  auto* self = static_cast<FeedConnection*>(t->data);
  if (!self) return;
  if (self->state_ == State::kCloseSent) self->log_info("no close reply within 5 s; closing TCP");
  self->end();
}

void FeedConnection::on_shutdown(uv_shutdown_t* req, int status) {
  std::unique_ptr<ShutdownReq> owned(static_cast<ShutdownReq*>(req->data));
  auto* self = static_cast<FeedConnection*>(req->handle->data);
  if (!self) return;
  if (status < 0) {
    self->log_info("shutdown failed (" + uv_error_text(status) + ")");
    self->end();
  } else if (self->server_.stopping()) {
    self->end();  // do not hold the exit for the peer's FIN
  } else {
    self->fin_sent_ = true;
  }
}

// ---------------------------------------------------------------- input

void FeedConnection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<FeedConnection*>(h->data);
  *buf = self ? self->server_.read_buffer() : uv_buf_init(nullptr, 0);
}

void FeedConnection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<FeedConnection*>(s->data);
  if (!self) return;
  if (nread < 0) {
    self->handle_read_error(nread);
    return;
  }
  const std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
  if (!self->sniffed_ && !in.empty()) {
    self->sniffed_ = true;
    if (self->server_.tls() != nullptr && in[0] == 0x16) {  // a TLS handshake record
      self->tls_ = TlsPipe::server(self->server_.tls());
      if (!self->tls_) {
        self->log_error("SSL_new failed");
        self->end();
        return;
      }
    }
  }
  if (self->tls_) {
    self->read_tls(in);
    return;
  }
  self->consume(in);
  self->flush();
}

void FeedConnection::read_tls(std::span<std::uint8_t> in) {
  switch (tls_->feed(in, server_.plain_buffer(), *this)) {
    case TlsPipe::Result::kOk: break;
    case TlsPipe::Result::kStopped: return;
    case TlsPipe::Result::kClosed:
      if (state_ == State::kOpen || state_ == State::kCloseSent) log_info("peer sent close_notify without a close frame");
      end();
      return;
    case TlsPipe::Result::kError:
      log_info("TLS: " + tls_->error());
      flush();  // the alert
      end();
      return;
  }
  flush();
}

bool FeedConnection::on_established() {
  server_.count_tls_handshake(tls_->resumed());
  log_info(std::string("TLS ") + tls_->version() + (tls_->resumed() ? " resumed" : " full handshake"));
  return true;
}

bool FeedConnection::on_plain(std::span<std::uint8_t> plain) {
  consume(plain);
  return !ended_;
}

void FeedConnection::handle_read_error(ssize_t nread) {
  const int err = static_cast<int>(nread);
  if (err == UV_EOF) {
    if (state_ == State::kOpen || state_ == State::kCloseSent) log_info("peer closed TCP without a close frame");
  } else if (err == UV_ECONNRESET) {
    log_info("connection reset by peer");
  } else {
    log_error("read failed (" + uv_error_text(err) + ")");
  }
  end();
}

void FeedConnection::consume(std::span<std::uint8_t> in) {
  if (state_ == State::kHead) {
    const std::size_t used = consume_head(in);
    in = in.subspan(used);  // whatever follows the head is frames, sent early
  }
  if (!ended_ && (state_ == State::kOpen || state_ == State::kCloseSent)) consume_frames(in);
  // kDraining: input is only read to see the peer's FIN.
}

std::size_t FeedConnection::consume_head(std::span<std::uint8_t> in) {
  const std::size_t old = request_.size();
  const std::size_t take = std::min(in.size(), kMaxHead - old);
  request_.append(reinterpret_cast<const char*>(in.data()), take);
  const std::size_t from = old < 3 ? 0 : old - 3;  // CRLFCRLF may straddle reads
  const std::size_t end = find_head_end(std::string_view(request_).substr(from));
  if (end != std::string_view::npos) {
    request_.resize(from + end);
    answer_request();
    return from + end - old;
  }
  if (request_.size() >= kMaxHead) {
    log_info("request head over 16384 bytes; answering 431");
    out_ += http_response(431, "text/plain", "request head too large\n", server_.name());
    start_draining();
    return in.size();
  }
  return take;
}

void FeedConnection::answer_request() {
  FeedRequest r = decide_feed_request(parse_head(request_), server_.name());
  if (!r.problem.empty()) log_info("refused request: " + r.problem);
  switch (r.kind) {
    case FeedRequest::Kind::kUpgrade:
      server_.note_authorization(parse_head(request_).get("Authorization").value_or(""));
      out_ += r.response;
      state_ = State::kOpen;
      channel_ = std::move(r.channel);
      joined_ = true;
      id_ = server_.join(this, channel_);
      log_info("joined");
      return;
    case FeedRequest::Kind::kStats:
      out_ += http_response(200, "application/json", server_.stats_json(), server_.name());
      break;
    case FeedRequest::Kind::kDrop:
      server_.drop_all();
      out_ += r.response;
      break;
    case FeedRequest::Kind::kRespond: out_ += r.response; break;
  }
  start_draining();
}

// ---------------------------------------------------------------- output

void FeedConnection::send(std::string_view frames) {
  out_ += frames;
  flush();
}

void FeedConnection::send_frame(std::uint8_t opcode, std::string_view payload) {
  FrameHeader h;
  h.opcode = opcode;
  h.length = payload.size();
  out_ += encode_header(h);
  out_ += payload;
}

void FeedConnection::flush() {
  if (ended_) return;
  std::string* source = &out_;
  if (tls_) {
    // Encrypt what is queued; the handshake's own records are in tls_->out() too.
    if (!out_.empty() && tls_->established()) {
      if (!tls_->write({reinterpret_cast<const std::uint8_t*>(out_.data()), out_.size()})) {
        log_info("TLS: " + tls_->error());
        end();
        return;
      }
      out_.clear();
    }
    source = &tls_->out();
  }
  if (source->empty()) return;
  auto w = std::make_unique<WriteReq>();
  w->req.data = w.get();
  w->data.swap(*source);
  source->swap(spare_);  // reuse the last finished write's memory
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, tcp_.stream(), &buf, 1, &FeedConnection::on_write);
  if (rc < 0) {
    log_info("write failed (" + uv_error_text(rc) + ")");
    end();
    return;
  }
  unsent_ += w->data.size();
  (void)w.release();  // freed in on_write
}

void FeedConnection::on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> owned(static_cast<WriteReq*>(req->data));
  auto* self = static_cast<FeedConnection*>(req->handle->data);
  if (!self) return;  // ended; libuv cancelled this write
  self->unsent_ -= owned->data.size();
  if (status < 0) {
    self->log_info("write failed (" + uv_error_text(status) + ")");
    self->end();
    return;
  }
  owned->data.clear();
  if (owned->data.capacity() > self->spare_.capacity() && owned->data.capacity() <= kMaxSpare)
    self->spare_ = std::move(owned->data);
}

// ---------------------------------------------------------------- logging

void FeedConnection::log_info(const std::string& what) const {
  if (!server_.quiet()) log_error(what);
}

// "connection 127.0.0.1:5555: ...", "connection 3 (127.0.0.1:5555) on /live: ..."
void FeedConnection::log_error(const std::string& what) const {
  const std::string peer = peer_.empty() ? std::string("(new)") : peer_;
  if (id_ == 0) {
    server_.log("connection " + peer + ": " + what);
  } else {
    server_.log("connection " + std::to_string(id_) + " (" + peer + ") on " + channel_ + ": " + what);
  }
}

}  // namespace wsgate::test
