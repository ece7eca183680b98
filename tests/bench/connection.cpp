#include "tests/bench/connection.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cassert>
#include <cstring>

#include "tests/support/http_head.h"

namespace wsgate::bench {

namespace {
constexpr std::size_t kMaxResponseHead = 16 * 1024;
constexpr std::size_t kMaxSubscribedMessage = 1024 * 1024;
const std::uint8_t kNormalClose[] = {0x03, 0xe8};  // 1000

std::string uv_text(int rc) { return std::string(uv_err_name(rc)) + ": " + uv_strerror(rc); }
}  // namespace

const char* failure_name(Failure f) {
  switch (f) {
    case Failure::kConnect: return "connect";
    case Failure::kHandshake: return "handshake";
    case Failure::kVerify: return "verify";
    case Failure::kProtocol: return "protocol";
    case Failure::kClosed: return "closed";
  }
  return "?";
}

Connection::Connection(Shared& shared, ConnectionHandler& handler, std::uint64_t id)
    : shared_(shared), handler_(handler), id_(id) {}

Connection::~Connection() {
  assert((!tcp_inited_ || state_ == State::kClosed) && "Connection destroyed before its close callback");
}

std::string Connection::start(const Endpoint& to, const std::optional<sockaddr_in>& from) {
  started_ns_ = uv_hrtime();
  host_header_ = to.host_header;
  path_ = to.path;
  endpoint_ = &to;
  int rc = uv_tcp_init_ex(shared_.loop, &tcp_, AF_INET);
  if (rc < 0) return "socket(): " + uv_text(rc);
  tcp_inited_ = true;
  tcp_.data = this;
  state_ = State::kConnecting;
  if (from) {
    // Let connect() pick the port for the full 4-tuple, so one source address
    // is not limited to ~28,000 ports over all destinations.
    uv_os_fd_t fd;
    const int one = 1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0)
      (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    rc = uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&*from), 0);
    if (rc < 0) {
      fail(Failure::kConnect, "bind(): " + uv_text(rc));
      return "";
    }
  }
  connect_req_.data = this;
  rc = uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&to.addr), &Connection::on_connect);
  if (rc < 0) fail(Failure::kConnect, "connect(): " + uv_text(rc));
  return "";
}

void Connection::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  if (status == UV_ECANCELED || self->state_ != State::kConnecting) return;
  if (status < 0) return self->fail(Failure::kConnect, "connect(): " + uv_text(status));
  uv_tcp_nodelay(&self->tcp_, 1);
  const int rc =
      uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &Connection::on_alloc, &Connection::on_read);
  if (rc < 0) return self->fail(Failure::kConnect, "read_start(): " + uv_text(rc));
  if (self->endpoint_->tls) return self->start_tls();
  self->state_ = State::kHandshake;
  self->send_upgrade();
}

void Connection::start_tls() {
  if (!shared_.tls) return fail(Failure::kHandshake, "wss URL without a TLS context");
  SSL_SESSION* resume = shared_.resume ? shared_.tls->latest_session() : nullptr;
  if (resume) ++shared_.tls_offered;
  tls_ = test::TlsPipe::client(shared_.tls->get(), endpoint_->host, resume);
  if (!tls_) return fail(Failure::kHandshake, test::ssl_error_text("TLS: SSL_new failed"));
  state_ = State::kTls;
  if (!tls_->start()) return fail(Failure::kHandshake, tls_->error());
  flush();
}

bool Connection::on_established() {
  ++(tls_->resumed() ? shared_.tls_resumed : shared_.tls_full);
  state_ = State::kHandshake;
  send_upgrade();
  return state_ < State::kClosing;
}

void Connection::send_upgrade() {
  std::uint8_t raw[16];
  for (std::size_t i = 0; i < sizeof raw; i += 8) {
    const std::uint64_t r = shared_.random.next();
    std::memcpy(raw + i, &r, 8);
  }
  const std::string key = test::base64_encode({reinterpret_cast<const char*>(raw), sizeof raw});
  expected_accept_ = test::websocket_accept(key);
  const std::string req = "GET " + path_ + " HTTP/1.1\r\nHost: " + host_header_ +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: wsgate-bench\r\n" + shared_.extra_headers +
                          "\r\n";
  out_.insert(out_.end(), req.begin(), req.end());
  flush();
}

void Connection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(h->data);
  auto& rb = self->shared_.read_buf;
  *buf = uv_buf_init(reinterpret_cast<char*>(rb.data()), static_cast<unsigned>(rb.size()));
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(s->data);
  if (nread == 0) return;
  if (self->state_ >= State::kClosing) return;
  if (nread < 0) {
    if (self->state_ == State::kOpen) self->handler_.on_server_close(*self, -1);
    if (self->state_ == State::kTls) return self->fail(Failure::kHandshake, "TLS: connection closed during the handshake");
    if (nread == UV_EOF && self->state_ == State::kCloseSent)
      return self->fail(Failure::kClosed, "EOF before the close reply");
    if (nread == UV_EOF) return self->fail(Failure::kClosed, "EOF from the server");
    return self->fail(Failure::kClosed, "read(): " + uv_text(static_cast<int>(nread)));
  }
  self->shared_.now_ns = uv_hrtime();
  const std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(buf->base),
                                        static_cast<std::size_t>(nread));
  if (self->tls_) return self->read_tls(in);
  if (self->process(in)) self->flush();
}

// Inlined into on_read so the plain path costs what it did before TLS.
[[gnu::always_inline]] inline bool Connection::process(std::span<const std::uint8_t> in) {
  if (state_ == State::kHandshake && !handle_handshake(in)) return state_ < State::kClosing;
  if (state_ >= State::kClosing) return false;
  if (!in.empty() && !reader_.feed(in, *this)) {
    if (state_ < State::kClosing) fail(Failure::kProtocol, reader_.error());
    return false;
  }
  return state_ < State::kClosing;
}

bool Connection::on_plain(std::span<std::uint8_t> plain) { return process(plain); }

void Connection::read_tls(std::span<const std::uint8_t> in) {
  if (shared_.plain_buf.empty()) shared_.plain_buf.resize(64 * 1024);
  const bool was_open = state_ == State::kOpen;
  switch (tls_->feed(in, shared_.plain_buf, *this)) {
    case test::TlsPipe::Result::kOk: return flush();
    case test::TlsPipe::Result::kStopped: return;
    case test::TlsPipe::Result::kClosed:
      if (was_open && state_ == State::kOpen) handler_.on_server_close(*this, -1);
      return fail(Failure::kClosed, "TLS close_notify from the server");
    case test::TlsPipe::Result::kError:
      return fail(tls_->established() ? Failure::kProtocol : Failure::kHandshake, tls_->error());
  }
}

// Collects the response head; on a valid 101 moves to kOpen and leaves in `in`
// whatever followed the head. False if the connection failed or is still waiting.
bool Connection::handle_handshake(std::span<const std::uint8_t>& in) {
  const std::size_t before = head_.size();
  head_.append(reinterpret_cast<const char*>(in.data()), in.size());
  const std::size_t end = test::find_head_end(head_);
  if (end == std::string::npos) {
    if (head_.size() > kMaxResponseHead) fail(Failure::kHandshake, "response head over 16 KiB");
    in = {};
    return false;
  }
  in = in.subspan(end - before);
  head_.resize(end);
  const test::HttpHead h = test::parse_head(head_);
  std::string problem;
  if (h.start_line.rfind("HTTP/1.1 101", 0) != 0) problem = "status line \"" + h.start_line + "\"";
  else if (!h.has_token("Upgrade", "websocket")) problem = "no Upgrade: websocket";
  else if (!h.has_token("Connection", "upgrade")) problem = "no Connection: upgrade";
  else if (h.get("Sec-WebSocket-Accept").value_or("") != expected_accept_) problem = "wrong Sec-WebSocket-Accept";
  else if (h.get("Sec-WebSocket-Extensions")) problem = "an extension we did not offer";
  if (!problem.empty()) {
    fail(Failure::kHandshake, problem);
    return false;
  }
  head_ = std::string();  // free it: idle sessions should hold nothing
  state_ = State::kOpen;
  handler_.on_open(*this);
  return state_ < State::kClosing;
}

void Connection::send_message(std::size_t size, std::uint64_t now_ns) {
  if (state_ != State::kOpen) return;
  const std::uint64_t seq = next_seq_++;
  append_message_frame(out_, *shared_.pattern, id_, seq, size, shared_.random.next32());
  pending_.push_back({seq, now_ns, size});
}

bool Connection::on_data(std::uint8_t opcode, std::span<const std::uint8_t> chunk, bool message_start,
                         bool message_end) {
  if (subscriber_) return on_subscriber_data(opcode, chunk, message_start, message_end);
  if (pending_.empty()) {
    fail(Failure::kVerify, "a message arrived that was never sent");
    return false;
  }
  const Pending& p = pending_.front();
  if (opcode != 0x2) {
    fail(Failure::kVerify, "echo is not a binary message");
    return false;
  }
  if (message_start == receiving_) {
    fail(Failure::kVerify, "message boundary in the wrong place");
    return false;
  }
  receiving_ = true;
  if (msg_offset_ + chunk.size() > p.size) {
    fail(Failure::kVerify, "echo longer than the message sent");
    return false;
  }
  if (!shared_.pattern->matches(id_, p.seq, msg_offset_, chunk)) {
    fail(Failure::kVerify, "echoed bytes differ from the message sent (seq " + std::to_string(p.seq) + ")");
    return false;
  }
  msg_offset_ += chunk.size();
  if (!message_end) return true;
  if (msg_offset_ != p.size) {
    fail(Failure::kVerify, "echo shorter than the message sent");
    return false;
  }
  const Pending done = p;
  pending_.pop_front();
  msg_offset_ = 0;
  receiving_ = false;
  handler_.on_echo(*this, done.sent_ns, done.size);
  return state_ < State::kClosing;
}

bool Connection::on_subscriber_data(std::uint8_t opcode, std::span<const std::uint8_t> chunk, bool message_start,
                                    bool message_end) {
  if (message_start && message_end) {  // the common case: no copy
    handler_.on_message(*this, opcode, chunk);
    return state_ < State::kClosing;
  }
  if (message_start) gathered_.clear();
  if (gathered_.size() + chunk.size() > kMaxSubscribedMessage) {
    fail(Failure::kProtocol, "a message over 1 MiB");
    return false;
  }
  gathered_.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  if (!message_end) return true;
  handler_.on_message(*this, opcode, {reinterpret_cast<const std::uint8_t*>(gathered_.data()), gathered_.size()});
  gathered_.clear();
  return state_ < State::kClosing;
}

bool Connection::on_control(std::uint8_t opcode, std::span<const std::uint8_t> payload) {
  if (opcode == 0x9) {  // ping -> pong
    append_control_frame(out_, 0xA, payload, shared_.random.next32());
    return true;
  }
  if (opcode == 0xA) return true;
  // Close.
  if (state_ == State::kCloseSent) {
    handler_.on_close_done(*this);
    close_tcp();
    return false;
  }
  std::string why = "server sent close";
  const int code = payload.size() >= 2 ? (payload[0] << 8) | payload[1] : 1005;
  if (payload.size() >= 2) why += " " + std::to_string(code);
  handler_.on_server_close(*this, code);
  append_control_frame(out_, 0x8, payload.first(std::min<std::size_t>(payload.size(), 2)), shared_.random.next32());
  flush();
  fail(Failure::kClosed, why);
  return false;
}

void Connection::flush() {
  if (tls_) return flush_tls();
  if (writing_ || out_.empty() || state_ >= State::kClosing || state_ < State::kHandshake) return;
  in_write_.swap(out_);
  out_.clear();
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(in_write_.data()), static_cast<unsigned>(in_write_.size()));
  write_req_.data = this;
  const int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1, &Connection::on_write);
  if (rc < 0) return fail(Failure::kClosed, "write(): " + uv_text(rc));
  writing_ = true;
}

// Encrypts what is queued and writes it with whatever the handshake or a
// record produced (OpenSSL's own ciphertext lands in tls_->out() too).
void Connection::flush_tls() {
  if (writing_ || state_ >= State::kClosing || state_ < State::kTls) return;
  if (!out_.empty() && tls_->established()) {
    if (!tls_->write(out_)) return fail(Failure::kProtocol, tls_->error());
    out_.clear();
  }
  std::string& cipher = tls_->out();
  if (cipher.empty()) return;
  cipher_write_.swap(cipher);
  cipher.clear();
  uv_buf_t b = uv_buf_init(cipher_write_.data(), static_cast<unsigned>(cipher_write_.size()));
  write_req_.data = this;
  const int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1, &Connection::on_write);
  if (rc < 0) return fail(Failure::kClosed, "write(): " + uv_text(rc));
  writing_ = true;
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  self->writing_ = false;
  self->in_write_.clear();
  self->cipher_write_.clear();
  if (status == UV_ECANCELED || self->state_ >= State::kClosing) return;
  if (status < 0) return self->fail(Failure::kClosed, "write(): " + uv_text(status));
  self->flush();
}

void Connection::close() {
  if (state_ == State::kOpen) {
    append_control_frame(out_, 0x8, kNormalClose, shared_.random.next32());
    state_ = State::kCloseSent;
    flush();
  } else if (state_ < State::kOpen) {
    close_tcp();
  }
}

void Connection::abort() { close_tcp(); }

void Connection::fail(Failure kind, const std::string& why) {
  if (state_ >= State::kClosing) return;
  handler_.on_failure(*this, kind, why);
  close_tcp();
}

void Connection::close_tcp() {
  if (state_ >= State::kClosing) return;
  state_ = State::kClosing;
  if (tls_ && tcp_inited_ && !writing_) {
    // Best effort: a close_notify if the socket takes it now; the close does not wait.
    tls_->close_notify();
    std::string& cipher = tls_->out();
    uv_buf_t b = uv_buf_init(cipher.data(), static_cast<unsigned>(cipher.size()));
    if (!cipher.empty()) (void)uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
  }
  if (tcp_inited_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::on_close);
  } else {
    state_ = State::kClosed;
  }
}

void Connection::on_close(uv_handle_t* h) {
  auto* self = static_cast<Connection*>(h->data);
  self->state_ = State::kClosed;
  self->handler_.on_closed(*self);  // may delete self
}

}  // namespace wsgate::bench
