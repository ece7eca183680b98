#include "tests/support/ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace wsgate::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxResponseHead = 64 * 1024;

[[noreturn]] void fail(const std::string& what) { throw TestIoError(what); }

std::string errno_text(int err) { return std::to_string(err) + ": " + std::strerror(err); }

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

std::string show(std::string_view bytes, std::size_t max = 200) {
  std::string out;
  for (char c : bytes.substr(0, max)) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c >= 0x20 && c < 0x7f) out += c;
    else
      out += "\\x" + std::string(1, "0123456789abcdef"[(c >> 4) & 0xf]) + std::string(1, "0123456789abcdef"[c & 0xf]);
  }
  return bytes.size() > max ? out + "..." : out;
}

sockaddr_storage make_addr(const std::string& host, std::uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (host.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) fail("bad IPv6 address " + host);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) fail("bad IPv4 address " + host);
    len = sizeof *a;
  }
  return ss;
}

// Header size and total size of the frame at the front of `data`, once known.
struct Extent {
  std::size_t header = 2;
  std::optional<std::uint64_t> length;
};
Extent frame_extent(std::string_view data) {
  Extent e;
  if (data.size() < 2) return e;
  const auto b1 = static_cast<std::uint8_t>(data[1]);
  const std::uint8_t len7 = b1 & 0x7f;
  e.header = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
  if (data.size() < e.header) return e;
  std::uint64_t len = len7;
  const int ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  if (ext) len = 0;
  for (int i = 0; i < ext; ++i) len = (len << 8) | static_cast<std::uint8_t>(data[2 + i]);
  e.length = len;
  return e;
}

HttpResponse parse_response(std::string_view raw) {
  HttpResponse r;
  r.head = parse_head(raw);
  const std::string& line = r.head.start_line;  // "HTTP/1.1 101 Switching Protocols"
  const std::size_t sp = line.find(' ');
  if (line.starts_with("HTTP/") && sp != std::string::npos && line.size() >= sp + 4) {
    const std::string code = line.substr(sp + 1, 3);
    if (code.find_first_not_of("0123456789") == std::string::npos) r.status = std::stoi(code);
    r.reason = line.size() > sp + 5 ? line.substr(sp + 5) : "";
  }
  return r;
}

}  // namespace

std::string build_frame(const RawFrame& f) {
  FrameHeader h;
  h.fin = f.fin;
  h.rsv = f.rsv;
  h.opcode = f.opcode;
  h.masked = f.mask;
  h.mask = f.key.value_or(random_mask());
  h.length = f.length_field.value_or(f.payload.size());
  std::string out = encode_header(h, f.form);
  const std::size_t start = out.size();
  out += f.payload;
  if (f.mask) {
    std::span<std::uint8_t> body(reinterpret_cast<std::uint8_t*>(out.data()) + start, f.payload.size());
    apply_mask(body, h.mask, 0);
  }
  return out;
}

// ---------------------------------------------------------------- lifetime

WsClient::WsClient(WsClient&& o) noexcept { *this = std::move(o); }

WsClient& WsClient::operator=(WsClient&& o) noexcept {
  if (this == &o) return *this;
  disconnect();
  fd_ = std::exchange(o.fd_, -1);
  in_ = std::move(o.in_);
  in_pos_ = std::exchange(o.in_pos_, 0);
  eof_ = o.eof_;
  reset_ = o.reset_;
  read_while_sending_ = o.read_while_sending_;
  max_frame_ = o.max_frame_;
  response_ = std::move(o.response_);
  handshake_error_ = std::move(o.handshake_error_);
  partial_ = std::move(o.partial_);
  host_ = std::move(o.host_);
  port_ = o.port_;
  return *this;
}

WsClient::~WsClient() { disconnect(); }

void WsClient::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void WsClient::shutdown_write() {
  if (::shutdown(fd_, SHUT_WR) != 0) fail("shutdown(SHUT_WR) failed (" + errno_text(errno) + ")");
}

WsClient WsClient::connect(std::uint16_t port, milliseconds timeout, const std::string& host) {
  return connect_from("", port, timeout, host);
}

WsClient WsClient::open_from(const std::string& source, std::uint16_t port, const std::string& path,
                             milliseconds timeout, const std::string& host) {
  const auto start = Clock::now();
  WsClient c = connect_from(source, port, timeout, host);
  const auto left = std::chrono::duration_cast<milliseconds>(timeout - (Clock::now() - start));
  c.handshake(path, {}, {}, std::max(left, milliseconds(1)));
  return c;
}

WsClient WsClient::connect_from(const std::string& source, std::uint16_t port, milliseconds timeout,
                                const std::string& host) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = host + " port " + std::to_string(port);
  socklen_t len = 0;
  const sockaddr_storage addr = make_addr(host, port, len);
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket() failed (" + errno_text(errno) + ") while connecting to " + where);
  WsClient c(fd);
  c.host_ = host;
  c.port_ = port;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!source.empty()) {
    socklen_t slen = 0;
    const sockaddr_storage from = make_addr(source, 0, slen);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), slen) != 0)
      fail("bind() to source " + source + " failed (" + errno_text(errno) + ") while connecting to " + where);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS)
    fail("connect() to " + where + " failed (" + errno_text(errno) + ")");
  pollfd p{fd, POLLOUT, 0};
  int r;
  while ((r = ::poll(&p, 1, remaining_ms(deadline))) < 0 && errno == EINTR) {
  }
  if (r == 0) fail("connect() to " + where + " timed out after " + std::to_string(timeout.count()) + " ms");
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) fail("connect() to " + where + " failed (" + errno_text(err) + ")");
  return c;
}

// ---------------------------------------------------------------- raw I/O

// One recv(); false on EOF or reset. Unexpected errors throw.
bool WsClient::recv_some() {
  const std::size_t old = in_.size();
  in_.resize(old + kReadChunk);
  const ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
  in_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
  if (n > 0) return true;
  if (n == 0) {
    eof_ = true;
    return false;
  }
  if (errno == EAGAIN || errno == EINTR) return true;
  if (errno == ECONNRESET) {
    eof_ = reset_ = true;
    return false;
  }
  fail("recv() failed (" + errno_text(errno) + ")");
}

WsClient::ReadResult WsClient::read_more(Clock::time_point deadline) {
  if (eof_) return ReadResult::kEof;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("poll() failed (" + errno_text(errno) + ")");
    if (r == 0) return ReadResult::kTimeout;
    return recv_some() ? ReadResult::kData : ReadResult::kEof;
  }
}

void WsClient::consume(std::size_t n) {
  in_pos_ += n;
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > (1u << 20) && in_pos_ > in_.size() / 2) {
    in_.erase(0, in_pos_);  // keep long receives linear
    in_pos_ = 0;
  }
}

void WsClient::send_raw(std::string_view bytes, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    // Reading while we wait keeps an echoing peer from stalling on us.
    const bool also_read = read_while_sending_ && !eof_;
    pollfd p{fd_, static_cast<short>(POLLOUT | (also_read ? POLLIN : 0)), 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      fail("send timed out after " + std::to_string(timeout.count()) + " ms with " + std::to_string(sent) + " of " +
           std::to_string(bytes.size()) + " bytes sent");
    if (also_read && (p.revents & POLLIN)) recv_some();
    if (!(p.revents & (POLLOUT | POLLERR | POLLHUP))) continue;
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0)
      fail("send() failed (" + errno_text(errno) + ") after " + std::to_string(sent) + " of " +
           std::to_string(bytes.size()) + " bytes");
    sent += static_cast<std::size_t>(n);
  }
}

// ---------------------------------------------------------------- HTTP

std::optional<HttpResponse> WsClient::try_read_http_response(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t end;
  while ((end = find_head_end(pending())) == std::string_view::npos) {
    if (pending().size() > kMaxResponseHead) fail("response head over 64 KiB: " + show(pending()));
    const ReadResult r = read_more(deadline);
    if (r == ReadResult::kTimeout) return std::nullopt;
    if (r == ReadResult::kEof)
      fail("peer closed TCP before a complete response head; got " + std::to_string(pending().size()) + " bytes: \"" +
           show(pending()) + "\"");
  }
  HttpResponse resp = parse_response(pending().substr(0, end));
  consume(end);
  if (resp.status == 101) return resp;  // what follows is WebSocket frames
  // Plain HTTP: take the body as far as Content-Length says (or what is here).
  std::size_t want = pending().size();
  if (const auto cl = resp.header("Content-Length")) want = std::stoul(*cl);
  while (pending().size() < want && read_more(deadline) == ReadResult::kData) {
  }
  const std::size_t take = std::min(want, pending().size());
  resp.body = std::string(pending().substr(0, take));
  consume(take);
  return resp;
}

HttpResponse WsClient::read_http_response(milliseconds timeout) {
  auto r = try_read_http_response(timeout);
  if (!r)
    fail("no complete HTTP response within " + std::to_string(timeout.count()) + " ms; got \"" + show(pending()) +
         "\"");
  return std::move(*r);
}

std::string WsClient::upgrade_request(const std::string& path, const std::string& host_header, const std::string& key,
                                      const std::vector<Header>& extra_headers,
                                      const std::vector<std::string>& protocols) {
  std::vector<Header> headers = {{"Host", host_header},
                                 {"Upgrade", "websocket"},
                                 {"Connection", "Upgrade"},
                                 {"Sec-WebSocket-Key", key},
                                 {"Sec-WebSocket-Version", "13"}};
  if (!protocols.empty()) {
    std::string list;
    for (const auto& p : protocols) list += (list.empty() ? "" : ", ") + p;
    headers.push_back({"Sec-WebSocket-Protocol", list});
  }
  for (const Header& extra : extra_headers) {
    bool replaced = false;
    for (Header& h : headers) {
      if (iequals(h.name, extra.name)) {
        h.value = extra.value;
        replaced = true;
      }
    }
    if (!replaced) headers.push_back(extra);
  }
  std::string req = "GET " + path + " HTTP/1.1\r\n";
  for (const Header& h : headers) {
    if (h.value) req += h.name + ": " + *h.value + "\r\n";
  }
  return req + "\r\n";
}

WsClient WsClient::open(std::uint16_t port, const std::string& path, const std::vector<Header>& extra_headers,
                        const std::vector<std::string>& protocols, milliseconds timeout, const std::string& host) {
  const auto start = Clock::now();
  WsClient c = connect(port, timeout, host);
  const auto left = std::chrono::duration_cast<milliseconds>(timeout - (Clock::now() - start));
  c.handshake(path, extra_headers, protocols, std::max(left, milliseconds(1)));
  return c;
}

void WsClient::handshake(const std::string& path, const std::vector<Header>& extra_headers,
                         const std::vector<std::string>& protocols, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::array<std::uint8_t, 16> nonce{};
  random_bytes(nonce);
  std::string key = base64_encode(std::string_view(reinterpret_cast<char*>(nonce.data()), 16));
  bool offered_extensions = false;
  for (const Header& h : extra_headers) {
    if (iequals(h.name, "Sec-WebSocket-Key") && h.value) key = *h.value;
    if (iequals(h.name, "Sec-WebSocket-Extensions") && h.value) offered_extensions = true;
  }
  const std::string host_header = (host_.find(':') == std::string::npos ? host_ : "[" + host_ + "]") + ":" +
                                  std::to_string(port_);  // overridable via extra_headers
  send_raw(upgrade_request(path, host_header, key, extra_headers, protocols), timeout);
  response_ =
      read_http_response(std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()), milliseconds(1)));
  check_handshake(key, protocols, offered_extensions);
}

// What a strict browser checks in a 101 (RFC 6455 4.1).
void WsClient::check_handshake(const std::string& key, const std::vector<std::string>& protocols,
                               bool offered_extensions) {
  const HttpResponse& r = response_;
  handshake_error_.clear();
  std::string& e = handshake_error_;
  if (r.status != 101) {
    e = "status " + std::to_string(r.status) + ", not 101";
  } else if (!r.head.has_token("Upgrade", "websocket")) {
    e = "101 without Upgrade: websocket";
  } else if (!r.head.has_token("Connection", "upgrade")) {
    e = "101 without Connection: upgrade";
  } else if (r.header("Sec-WebSocket-Accept") != websocket_accept(key)) {
    e = "wrong Sec-WebSocket-Accept \"" + r.header("Sec-WebSocket-Accept").value_or("") + "\", expected \"" +
        websocket_accept(key) + "\"";
  } else if (const auto p = r.header("Sec-WebSocket-Protocol")) {
    bool offered = false;
    for (const auto& o : protocols) offered = offered || o == *p;
    if (!offered) e = "101 names subprotocol \"" + *p + "\" that was not offered";
  }
  if (e.empty() && r.header("Sec-WebSocket-Extensions") && !offered_extensions)
    e = "101 names extension \"" + *r.header("Sec-WebSocket-Extensions") + "\" that was not offered";
  if (!e.empty()) e += "; response head: \"" + show(r.head.raw, 1000) + "\"";
}

// ---------------------------------------------------------------- frames out

void WsClient::send_raw_frame(const RawFrame& f, milliseconds timeout) { send_raw(build_frame(f), timeout); }

void WsClient::send_frame(std::uint8_t opcode, std::string_view payload, bool fin, bool mask, std::uint8_t rsv,
                          milliseconds timeout) {
  RawFrame f;
  f.fin = fin;
  f.rsv = rsv;
  f.opcode = opcode;
  f.mask = mask;
  f.payload = std::string(payload);
  send_raw_frame(f, timeout);
}

void WsClient::send_text(std::string_view text, milliseconds timeout) {
  send_frame(kText, text, true, true, 0, timeout);
}

void WsClient::send_binary(std::string_view data, milliseconds timeout) {
  send_frame(kBinary, data, true, true, 0, timeout);
}

void WsClient::send_fragments(std::uint8_t opcode, const std::vector<std::string>& parts, milliseconds timeout) {
  if (parts.empty()) fail("send_fragments: no parts");
  for (std::size_t i = 0; i < parts.size(); ++i) {
    send_frame(i == 0 ? opcode : std::uint8_t{kContinuation}, parts[i], i + 1 == parts.size(), true, 0, timeout);
  }
}

void WsClient::ping(std::string_view payload, milliseconds timeout) {
  send_frame(kPing, payload, true, true, 0, timeout);
}

void WsClient::pong(std::string_view payload, milliseconds timeout) {
  send_frame(kPong, payload, true, true, 0, timeout);
}

void WsClient::close(std::uint16_t code, std::string_view reason, milliseconds timeout) {
  send_frame(kClose, close_payload(code, reason), true, true, 0, timeout);
}

void WsClient::close_without_body(milliseconds timeout) { send_frame(kClose, {}, true, true, 0, timeout); }

// ---------------------------------------------------------------- frames in

std::optional<Frame> WsClient::read_frame(Clock::time_point deadline) {
  for (;;) {
    const Extent e = frame_extent(pending());
    if (e.length && *e.length > max_frame_)
      fail("incoming frame of " + std::to_string(*e.length) + " bytes exceeds the client's " +
           std::to_string(max_frame_) + "-byte limit");
    if (e.length && pending().size() - e.header >= *e.length) break;
    const ReadResult r = read_more(deadline);
    if (r == ReadResult::kTimeout) return std::nullopt;
    if (r == ReadResult::kEof)
      fail(std::string("peer closed TCP") + (reset_ ? " (reset)" : "") + " while waiting for a frame; " +
           std::to_string(pending().size()) + " bytes pending: \"" + show(pending()) + "\"");
  }
  // The whole frame is buffered: decode it in place with the streaming parser.
  FrameParser parser;
  Frame f;
  std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(in_.data()) + in_pos_, pending().size());
  std::size_t used_total = 0;
  for (;;) {
    std::size_t used = 0;
    const FrameParser::Event ev = parser.next(in.subspan(used_total), used);
    used_total += used;
    if (ev.kind == FrameParser::Kind::kPayload)
      f.payload.append(reinterpret_cast<const char*>(ev.payload.data()), ev.payload.size());
    if (ev.kind == FrameParser::Kind::kEnd) break;
  }
  const FrameHeader& h = parser.header();
  f.fin = h.fin;
  f.rsv = h.rsv;
  f.opcode = h.opcode;
  f.masked = h.masked;
  consume(used_total);
  return f;
}

std::optional<Frame> WsClient::try_recv_frame(milliseconds timeout) { return read_frame(Clock::now() + timeout); }

Frame WsClient::recv_frame(milliseconds timeout) {
  auto f = read_frame(Clock::now() + timeout);
  if (!f) {
    const Extent e = frame_extent(pending());
    const std::string have =
        e.length ? std::to_string(pending().size()) + " of " + std::to_string(e.header + *e.length) + " frame bytes"
                 : std::to_string(pending().size()) + " header bytes";
    fail("no frame within " + std::to_string(timeout.count()) + " ms (have " + have + ")");
  }
  return std::move(*f);
}

Message WsClient::recv_message(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Frame f = recv_frame(std::max(left, milliseconds(0)));
    if (is_control(f.opcode)) return Message{f.opcode, std::move(f.payload), 1};
    if (!partial_ && f.opcode == kContinuation) fail("continuation frame with no message open");
    if (partial_ && f.opcode != kContinuation)
      fail("data frame (opcode " + std::to_string(f.opcode) + ") inside a fragmented message");
    if (!partial_) {
      partial_ = Message{f.opcode, std::move(f.payload), 1};
    } else {
      partial_->payload += f.payload;
      ++partial_->frames;
    }
    if (f.fin) {
      Message m = std::move(*partial_);
      partial_.reset();
      return m;
    }
  }
}

CloseInfo WsClient::expect_close(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  CloseInfo info;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Frame f = recv_frame(std::max(left, milliseconds(0)));
    if (f.opcode != kClose) {
      ++info.skipped;
      continue;
    }
    const auto body = parse_close_payload(f.payload);
    if (!body) fail("close frame with a 1-byte body");
    info.code = body->code;
    info.reason = body->reason;
    return info;
  }
}

bool WsClient::try_wait_eof(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    consume(pending().size());
    const ReadResult r = read_more(deadline);
    if (r == ReadResult::kEof) return true;
    if (r == ReadResult::kTimeout) return false;
  }
}

PeerClosed WsClient::wait_eof(milliseconds timeout) {
  if (!try_wait_eof(timeout)) fail("peer did not close TCP within " + std::to_string(timeout.count()) + " ms");
  return reset_ ? PeerClosed::kReset : PeerClosed::kFin;
}

}  // namespace wsgate::test
