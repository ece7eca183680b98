#include "tests/support/backend_session.h"

#include <algorithm>
#include <cassert>
#include <memory>

#include "tests/support/backend_server.h"
#include "tests/support/tls_context.h"

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
constexpr std::size_t kFloodChunk = 64 * 1024;

std::string peer_name(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "unknown peer";
  char host[64] = "";
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  uv_ip4_name(a, host, sizeof host);
  port = ntohs(a->sin_port);
  return std::string(host) + ":" + std::to_string(port);
}

std::span<std::uint8_t> bytes_of(std::string& s) { return {reinterpret_cast<std::uint8_t*>(s.data()), s.size()}; }

}  // namespace

Session::Session(EchoServer& server) : server_(server) {}

// ---------------------------------------------------------------- lifecycle

bool Session::start(uv_stream_t* listener) {
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
  uv_tcp_nodelay(tcp_.get(), 1);
  peer_ = peer_name(tcp_.get());
  if (server_.tls()) {
    tls_ = TlsPipe::server(server_.tls());
    if (!tls_) {
      log_error(ssl_error_text("SSL_new failed") + " while accepting");
      return false;
    }
  }
  log_info("accepted");
  set_reading(true);
  return !ended_;
}

void Session::end() {
  if (ended_) return;
  ended_ = true;
  uncount();
  timer_.close();
  tcp_.close();  // cancels pending writes; their callbacks see data == nullptr
  server_.retire(this);
}

void Session::uncount() {
  if (!counted_) return;
  counted_ = false;
  server_.session_closed();
}

void Session::go_away() {
  switch (state_) {
    case State::kOpen:
      // Finish the flood message on the wire (a close cannot go inside a
      // frame), then send nothing more but the close.
      flood_.left = flood_.offset > 0 ? 1 : 0;
      request_close(1001, "backend shutting down");
      flush();
      resume();
      break;
    case State::kCloseSent:
    case State::kDraining: break;
    default: end();
  }
}

void Session::start_draining() {
  if (state_ == State::kDraining || ended_) return;
  state_ = State::kDraining;
  uncount();  // the WebSocket is over; only the TCP teardown is left
  flood_.left = 0;
  stash_.clear();
  flush();
  if (tls_ && !ended_) {
    tls_->close_notify();  // after the last record, before our FIN
    flush();
  }
  if (ended_) return;
  // FIN after the queued writes; then wait for the peer's FIN so unread input
  // cannot turn our close into an RST that destroys the last frame.
  auto req = std::make_unique<ShutdownReq>();
  req->req.data = req.get();
  const int rc = uv_shutdown(&req->req, tcp_.stream(), &Session::on_shutdown);
  if (rc < 0) {
    log_info("shutdown() failed (" + uv_error_text(rc) + ")");
    end();
    return;
  }
  (void)req.release();  // freed in on_shutdown
  arm_timer(kLingerMs);
  set_reading(true);
}

void Session::arm_timer(std::uint64_t ms) {
  const int rc = uv_timer_start(timer_.get(), &Session::on_timer, ms, 0);
  assert(rc == 0 && "uv_timer_start on an initialized timer cannot fail");
  (void)rc;
}

void Session::on_timer(uv_timer_t* t) {
  auto* self = static_cast<Session*>(t->data);
  if (!self) return;
  switch (self->state_) {
    case State::kDelayed:
      self->become_open();
      self->resume();
      break;
    case State::kCloseSent:
      self->log_info("no close reply within 5 s; closing TCP");
      self->end();
      break;
    case State::kDraining: self->end(); break;
    default: break;
  }
}

void Session::on_shutdown(uv_shutdown_t* req, int status) {
  std::unique_ptr<ShutdownReq> owned(static_cast<ShutdownReq*>(req->data));
  auto* self = static_cast<Session*>(req->handle->data);
  if (!self) return;
  if (status < 0) {
    self->log_info("shutdown failed (" + uv_error_text(status) + ")");
    self->end();
  } else if (self->server_.stopping()) {
    self->end();  // close handshake done; do not hold the exit for the peer's FIN
  }
}

// ---------------------------------------------------------------- input

void Session::set_reading(bool on) {
  if (on == reading_ || ended_) return;
  if (!on) {
    uv_read_stop(tcp_.stream());
    reading_ = false;
    return;
  }
  const int rc = uv_read_start(tcp_.stream(), &Session::on_alloc, &Session::on_read);
  if (rc < 0) {
    log_error("uv_read_start() failed (" + uv_error_text(rc) + ")");
    end();
    return;
  }
  reading_ = true;
}

void Session::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Session*>(h->data);
  *buf = self ? self->server_.read_buffer() : uv_buf_init(nullptr, 0);
}

void Session::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(s->data);
  if (!self) return;
  if (nread < 0) {
    self->handle_read_error(nread);
    return;
  }
  const std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
  if (self->tls_) return self->read_tls(in);
  self->take_input(in);
  if (self->ended_) return;
  if (!self->stash_.empty() || self->stalled()) self->set_reading(false);
  self->flush();
}

// Processes what the session may take now and keeps the rest in the stash.
void Session::take_input(std::span<std::uint8_t> in) {
  const std::size_t used = stash_.empty() ? consume(in) : 0;
  if (ended_) return;
  if (used < in.size()) stash_.append(reinterpret_cast<const char*>(in.data()) + used, in.size() - used);
}

// All the ciphertext of a read is decrypted at once (OpenSSL must consume
// it); what the session cannot take yet waits in the stash, at most one
// read's worth, as on the plain path.
void Session::read_tls(std::span<std::uint8_t> in) {
  switch (tls_->feed(in, server_.plain_buffer(), *this)) {
    case TlsPipe::Result::kOk: break;
    case TlsPipe::Result::kStopped: return;
    case TlsPipe::Result::kClosed:
      if (state_ == State::kOpen || state_ == State::kCloseSent) log_info("peer sent close_notify without a close frame");
      end();
      return;
    case TlsPipe::Result::kError:
      log_info(tls_->error());
      end();
      return;
  }
  if (!stash_.empty() || stalled()) set_reading(false);
  flush();
}

bool Session::on_plain(std::span<std::uint8_t> plain) {
  take_input(plain);
  return !ended_;
}

void Session::handle_read_error(ssize_t nread) {
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

bool Session::stalled() const {
  if (state_ == State::kDraining) return false;  // input is only discarded now
  return state_ == State::kDelayed || flood_.active() || backlog() > kHighWater;
}

// Processes as much input as the session may take now; returns bytes used.
std::size_t Session::consume(std::span<std::uint8_t> in) {
  std::size_t used = 0;
  while (!ended_ && !stalled()) {
    const State before = state_;
    const std::size_t n = step(in.subspan(used));
    used += n;
    if (state_ == before && (used == in.size() || n == 0)) break;
  }
  return used;
}

std::size_t Session::step(std::span<std::uint8_t> in) {
  switch (state_) {
    case State::kHandshake: return consume_request(in);
    case State::kOpen:
    case State::kCloseSent: return consume_frames(in);
    case State::kHanging:
    case State::kDraining: return in.size();  // discarded
    case State::kDelayed: return 0;
  }
  return 0;
}

// Runs after the output drained or a pause ended: the stash first, then reading.
void Session::resume() {
  if (ended_ || stalled()) return;
  // Also called with an empty stash: a zero-length frame's end may be pending.
  const std::size_t used = consume(bytes_of(stash_));
  if (ended_) return;
  stash_.erase(0, used);
  flush();
  if (!ended_ && !stalled() && stash_.empty()) set_reading(true);
}

std::size_t Session::consume_request(std::span<std::uint8_t> in) {
  const std::size_t old = request_.size();
  const std::size_t take = std::min(in.size(), kMaxRequestHead - old);
  request_.append(reinterpret_cast<const char*>(in.data()), take);
  const std::size_t from = old < 3 ? 0 : old - 3;  // CRLFCRLF may straddle reads
  const std::size_t end = find_head_end(std::string_view(request_).substr(from));
  if (end != std::string_view::npos) {
    request_.resize(from + end);
    answer_handshake();
    return from + end - old;  // the rest of `in` is frames, sent early
  }
  if (request_.size() >= kMaxRequestHead) {
    log_info("request head over 16384 bytes; answering 431");
    out_ += head_too_large_response(server_.name());
    start_draining();
    return in.size();
  }
  return take;
}

// ---------------------------------------------------------------- handshake

void Session::answer_handshake() {
  decision_ = decide_handshake(parse_head(request_), server_.name());
  switch (decision_.action) {
    case HandshakeDecision::Action::kReject:
      if (!decision_.problem.empty()) log_info("refused upgrade: " + decision_.problem);
      out_ += decision_.response;
      start_draining();
      break;
    case HandshakeDecision::Action::kHang: state_ = State::kHanging; break;
    case HandshakeDecision::Action::kUpgrade:
      if (decision_.delay_ms == 0) {
        become_open();
      } else {
        state_ = State::kDelayed;
        arm_timer(decision_.delay_ms);
      }
      break;
  }
}

void Session::become_open() {
  out_ += decision_.response;
  state_ = State::kOpen;
  counted_ = true;
  server_.session_opened();
}

// ---------------------------------------------------------------- output

void Session::flush() {
  if (ended_) return;
  std::string* source = &out_;
  if (tls_) {
    // Encrypt what is queued; the handshake's own records are in tls_->out() too.
    if (!out_.empty()) {
      if (!tls_->write({reinterpret_cast<const std::uint8_t*>(out_.data()), out_.size()})) {
        log_info(tls_->error());
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
  const int rc = uv_write(&w->req, tcp_.stream(), &buf, 1, &Session::on_write);
  if (rc < 0) {
    log_info("write failed (" + uv_error_text(rc) + ")");
    end();
    return;
  }
  unsent_ += w->data.size();
  (void)w.release();  // freed in on_write
}

void Session::on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> owned(static_cast<WriteReq*>(req->data));
  auto* self = static_cast<Session*>(req->handle->data);
  if (!self) return;  // session ended; libuv cancelled this write
  self->unsent_ -= owned->data.size();
  self->recycle(std::move(owned->data));
  if (status < 0) {
    self->log_info("write failed (" + uv_error_text(status) + ")");
    self->end();
    return;
  }
  self->after_write();
}

// Streaming sessions write continuously; reusing one buffer avoids a fresh
// allocation per write. An idle session gives it back, so 10,000 idle
// sessions hold no output memory.
void Session::recycle(std::string&& buf) {
  buf.clear();
  if (unsent_ == 0 && !flood_.active()) {
    spare_ = std::string();
  } else if (buf.capacity() > spare_.capacity() && buf.capacity() <= 2 * kHighWater) {
    spare_ = std::move(buf);
  }
}

void Session::after_write() {
  if (state_ == State::kDraining) return;
  pump_flood();
  flush();
  if (!ended_ && backlog() <= kLowWater) resume();
}

void Session::send_frame(std::uint8_t opcode, std::string_view payload, bool masked) {
  FrameHeader h;
  h.opcode = opcode;
  h.masked = masked;
  h.length = payload.size();
  if (masked) h.mask = random_mask();
  out_ += encode_header(h);
  const std::size_t start = out_.size();
  out_ += payload;
  if (masked) apply_mask(bytes_of(out_).subspan(start), h.mask, 0);
}

void Session::send_close(std::optional<std::uint16_t> code, std::string_view reason) {
  send_frame(kClose, code ? close_payload(*code, reason) : std::string());
}

// A close may not land inside a frame being streamed out, so it waits for
// the frame's end when one is open.
void Session::request_close(std::optional<std::uint16_t> code, std::string_view reason) {
  if (streaming_ || flood_.offset > 0) {
    deferred_close_ = CloseRequest{code, std::string(reason)};
    return;
  }
  send_close(code, reason);
  state_ = State::kCloseSent;
  arm_timer(kCloseReplyWaitMs);
}

void Session::output_frame_done() {
  if (!deferred_close_) return;
  const CloseRequest close = *deferred_close_;
  deferred_close_.reset();
  request_close(close.code, close.reason);
}

void Session::pump_flood() {
  while (flood_.active() && state_ == State::kOpen && backlog() < kHighWater) {
    if (flood_.offset == 0) {
      FrameHeader h;
      h.opcode = kBinary;
      h.length = flood_.size;
      out_ += encode_header(h);
    }
    const std::uint64_t n = std::min<std::uint64_t>(flood_.size - flood_.offset, kFloodChunk);
    const std::size_t start = out_.size();
    out_.resize(start + n);
    for (std::uint64_t i = 0; i < n; ++i)
      out_[start + i] = static_cast<char>(flood_byte(flood_.index, flood_.offset + i));
    flood_.offset += n;
    if (flood_.offset < flood_.size) continue;
    flood_.offset = 0;
    ++flood_.index;
    if (--flood_.left > 0) continue;
    if (deferred_close_) {
      output_frame_done();  // shutting down: the close replaces "flood-done"
    } else {
      send_frame(kText, "flood-done");
    }
  }
}

// ---------------------------------------------------------------- logging

void Session::log_info(const std::string& what) const {
  if (!server_.quiet()) server_.log("session " + peer_ + ": " + what);
}

void Session::log_error(const std::string& what) const {
  server_.log("session " + (peer_.empty() ? std::string("(new)") : peer_) + ": " + what);
}

}  // namespace wsgate::test
