#include "worker/feeder/feed_upstream.h"

#include <netinet/in.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

#include "worker/log/log.h"
#include "worker/net/endpoint_address.h"
#include "worker/ws/ws_key.h"

namespace wsgate::worker {

namespace {
// A source that says nothing for this long is pinged; one that answers
// nothing for twice as long is lost (half-open: a pulled cable, a frozen peer).
constexpr int64_t kQuietMs = 10000;
constexpr uint64_t kTickMs = 1000;

int64_t now_ms(uv_loop_t* loop) { return static_cast<int64_t>(uv_now(loop)); }
}  // namespace

FeedUpstream::FeedUpstream(FeederResources& res, FeedUpstreamHost& host, FeedTarget target)
    : res_(res), host_(host), target_(std::move(target)) {}

// libuv calls back after a timed-out attempt's socket is closed too: the
// pending connect is cut loose first.
FeedUpstream::~FeedUpstream() { connect_.cancel(); }

void FeedUpstream::start() {
  if (timer_.init(uv_timer_init, res_.loop, this) != 0) {
    fail("uv_timer_init() failed");
    return;
  }
  const conf::SourceUrl& src = *target_.source;
  if (src.name.empty()) {
    sockaddr_storage ss{};
    const int r = endpoint_address(src.endpoint, ss);
    if (r != 0) {
      fail("connect() failed (" + log::uv_error_text(r) + ")");
      return;
    }
    addresses_.push_back(ss);
    dial_next();
    return;
  }
  // Resolved at every (re)connect: a vendor's feed moves between addresses.
  stage_ = Stage::resolving;
  const int r = resolve_.start(res_.loop, src.name, src.endpoint.port, *this);
  if (r != 0) {
    fail("cannot resolve " + src.name + " (" + log::uv_error_text(r) + ")");
    return;
  }
  arm(target_.connect_timeout);
}

void FeedUpstream::on_resolved(int status, PendingResolve::Addresses addresses) {
  if (stage_ != Stage::resolving) {
    return;
  }
  if (status != 0) {
    fail("cannot resolve " + target_.source->name + " (" + log::uv_error_text(status) + ")");
    return;
  }
  addresses_ = std::move(addresses);
  dial_next();
}

namespace {
std::string address_text(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  uv_ip4_name(a, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
}
}  // namespace

// Each address gets the whole connect_timeout for TCP + TLS + the 101.
void FeedUpstream::dial_next() {
  if (conn_) {
    conn_->close();
    spent_.push_back(std::move(conn_));  // maybe inside its own callback: freed with this upstream
  }
  const sockaddr_storage& ss = addresses_[next_address_++];
  stage_ = Stage::connecting;
  conn_ = std::make_unique<TcpConn>(res_.loop, res_.buffers, res_.read_buffer(), *this);
  int r = conn_->init();
  if (r == 0) {
    r = connect_.start(conn_->tcp(), reinterpret_cast<const sockaddr*>(&ss), *this);
  }
  if (r != 0) {
    attempt_failed("connect() failed (" + log::uv_error_text(r) + ")");
    return;
  }
  arm(target_.connect_timeout);
}

void FeedUpstream::attempt_failed(const std::string& why) {
  if (stage_ == Stage::down) {
    return;
  }
  connect_.cancel();
  if (!target_.source->name.empty() && next_address_ > 0) {
    attempts_ += (attempts_.empty() ? "" : "; ") + address_text(addresses_[next_address_ - 1]) + " " + why;
  } else {
    attempts_ = why;
  }
  if (next_address_ < addresses_.size()) {
    dial_next();
    return;
  }
  fail(attempts_);
}

std::string FeedUpstream::tls_summary() const {
  const TlsStream* t = conn_ ? conn_->tls() : nullptr;
  if (t == nullptr || !t->established()) {
    return {};
  }
  return std::string(t->version()) + (t->resumed() ? ", resumed" : ", full handshake");
}

void FeedUpstream::arm(conf::Duration d) {
  uv_timer_start(timer_.get(), &FeedUpstream::on_timer, static_cast<uint64_t>(d.count()), 0);
}

void FeedUpstream::on_connect_done(int status) {
  if (status != 0) {
    attempt_failed("connect() failed (" + log::uv_error_text(status) + ")");
    return;
  }
  uv_tcp_nodelay(conn_->tcp(), 1);
  stage_ = Stage::upgrading;
  if (target_.tls) {
    const conf::Stream* st = target_.stream;
    const std::string& name =
        st != nullptr && !st->tls.server_name.empty() ? st->tls.server_name : target_.source->host_name();
    // One session per source: the next dial to it offers the last one.
    if (!conn_->start_tls_client(target_.tls->open(name, target_.source->text), target_.tls)) {
      attempt_failed("the TLS handshake could not start");
      return;
    }
  }
  request_.host = target_.source->host;
  request_.target = target_.path;
  request_.path = target_.path.substr(0, target_.path.find('?'));
  request_.key = make_ws_key();
  HeaderList lines;
  bool has_agent = false;
  if (target_.stream != nullptr) {
    request_.protocols = target_.stream->subprotocols;
    lines = target_.stream->headers;
    has_agent = std::any_of(lines.begin(), lines.end(), [](const auto& h) {
      return h.first.size() == 10 && strncasecmp(h.first.c_str(), "User-Agent", 10) == 0;
    });
    if (!target_.stream->origin.empty()) {
      lines.emplace_back("Origin", target_.stream->origin);
    }
  }
  if (!has_agent) {
    lines.emplace_back("User-Agent", "wsgate-feeder");
  }
  response_ = std::make_unique<ResponseReader>();
  // With TLS this waits in the connection until the handshake is done.
  conn_->append(build_upgrade_request({request_.target, request_.host, request_.key, &request_.protocols, &lines}));
  conn_->flush();
  if (conn_->start_reading() != 0) {
    fail("read_start() failed");
  }
}

void FeedUpstream::on_conn_read(TcpConn&, const uint8_t* data, size_t n) {
  last_heard_ms_ = now_ms(res_.loop);
  ping_outstanding_ = false;
  if (stage_ == Stage::upgrading) {
    on_response_bytes(data, n);
  } else if (stage_ == Stage::relaying || stage_ == Stage::closing) {
    on_frame_bytes(data, n);
  }
}

void FeedUpstream::on_response_bytes(const uint8_t* data, size_t n) {
  received_.append(reinterpret_cast<const char*>(data), n);
  ResponseReader::Status st = response_->parse(received_);
  if (st == ResponseReader::Status::need_more) {
    return;
  }
  if (st == ResponseReader::Status::error) {
    attempt_failed("bad upgrade response (" + response_->error() + ")");
    return;
  }
  UpstreamVerdict v = response_->judge(request_, request_.key);
  if (v.kind != UpstreamVerdict::Kind::upgraded) {
    attempt_failed(v.kind == UpstreamVerdict::Kind::pass_through ? "answered HTTP " + std::to_string(v.status) + " instead of 101"
                                                       : "invalid 101 (" + v.why + ")");
    return;
  }
  std::string rest = received_.substr(response_->consumed());
  received_.clear();
  received_.shrink_to_fit();
  response_.reset();
  stage_ = Stage::relaying;
  sink_ = std::make_unique<SinkTo<TcpConn>>(*conn_);
  codec_ = std::make_unique<FrameCodec>(*sink_, true, res_.masked);
  RuleLimits limits;
  limits.max_message = target_.max_message;
  limits.expect_masked = false;
  rules_ = std::make_unique<MessageRules>(limits);
  for (const std::string& m : target_.on_connect) {
    codec_->send(FrameHead{true, 0, opcode::text, m.size(), true}, reinterpret_cast<const uint8_t*>(m.data()),
                 m.size());
  }
  conn_->flush();
  last_heard_ms_ = now_ms(res_.loop);
  uv_timer_start(timer_.get(), &FeedUpstream::on_timer, kTickMs, kTickMs);
  host_.on_upstream_up(*this);
  if (!rest.empty() && stage_ == Stage::relaying) {
    on_frame_bytes(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  }
}

void FeedUpstream::on_frame_bytes(const uint8_t* data, size_t n) {
  codec_->feed(data, n);
  FrameChunk chunk;
  for (;;) {
    FrameCodec::Next r = codec_->next(chunk);
    if (r == FrameCodec::Next::need_more) {
      break;
    }
    if (r == FrameCodec::Next::protocol_error) {
      send_close(close_code::protocol_error, "");
      fail("invalid frame header from the source");
      break;
    }
    if (!on_chunk(chunk)) {
      break;
    }
  }
  if (stage_ == Stage::down) {
    return;
  }
  codec_->discard_input();
  codec_->release_if_idle();
  conn_->flush();
  host_.on_upstream_batch_end(*this);
}

bool FeedUpstream::on_chunk(const FrameChunk& chunk) {
  uint16_t code = chunk.starts_frame ? rules_->on_frame_start(chunk.head) : 0;
  if (code == 0) {
    code = rules_->on_payload(chunk.data, chunk.size);
  }
  if (code != 0) {
    send_close(code, "");
    fail("the source broke the protocol (close " + std::to_string(code) + ")");
    return false;
  }
  const bool control = rules_->current_is_control();
  if (!control) {
    if (chunk.starts_frame && chunk.head.opcode != opcode::continuation) {
      message_op_ = chunk.head.opcode;
      message_.clear();
    }
    message_.append(reinterpret_cast<const char*>(chunk.data), chunk.size);
  }
  if (!chunk.ends_frame) {
    return true;
  }
  code = rules_->on_frame_end();
  if (code != 0) {
    send_close(code, "");
    fail("the source broke the protocol (close " + std::to_string(code) + ")");
    return false;
  }
  if (!control) {
    if (chunk.head.fin && stage_ == Stage::relaying) {
      host_.on_upstream_message(*this, message_op_, message_);
      message_.clear();
      if (message_.capacity() > 64 * 1024) {
        message_.shrink_to_fit();  // one huge message does not pin its buffer
      }
    }
    return stage_ != Stage::down;
  }
  std::span<const uint8_t> payload = rules_->control_payload();
  switch (rules_->current_opcode()) {
    case opcode::ping: codec_->send_control(opcode::pong, payload.data(), payload.size()); break;
    case opcode::close:
      if (stage_ == Stage::relaying) {
        codec_->send_control(opcode::close, payload.data(), std::min<size_t>(payload.size(), 2));
        conn_->flush();
        uint16_t c = payload.size() >= 2 ? static_cast<uint16_t>(payload[0] << 8 | payload[1]) : 1005;
        fail("the source closed the connection (code " + std::to_string(c) + ")");
      } else {
        fail("");  // our close was answered
      }
      return false;
    default: break;
  }
  return true;
}

void FeedUpstream::send_close(uint16_t code, std::string_view reason) {
  if (!codec_ || codec_->output_mid_frame()) {
    return;
  }
  codec_->send_close(code, reason);
  conn_->flush();
}

void FeedUpstream::close_gracefully() {
  if (stage_ == Stage::relaying) {
    stage_ = Stage::closing;
    send_close(close_code::normal, "no subscribers");
    uv_timer_start(timer_.get(), &FeedUpstream::on_timer, 2000, 0);
  } else if (stage_ != Stage::down) {
    fail("");
  }
}

void FeedUpstream::on_conn_eof(TcpConn& c) {
  if (stage_ == Stage::upgrading) {
    const bool in_tls = c.tls() != nullptr && !c.tls()->established();
    attempt_failed(in_tls ? "the source closed the connection in the TLS handshake"
                          : "the source closed the TCP connection before the 101");
    return;
  }
  fail(stage_ == Stage::closing ? "" : "the source closed the TCP connection");
}

void FeedUpstream::on_conn_error(TcpConn& c, int uv_status, const char* while_doing) {
  std::string why = std::string(while_doing) + " failed (" + log::uv_error_text(uv_status) + ")";
  if (c.tls() != nullptr && c.tls()->failure() != shm::TlsOutcome::ok) {
    // What the operator needs: "certificate verify failed: certificate has expired".
    why = (c.tls()->established() ? "TLS error: " : "TLS handshake failed: ") + c.tls()->failure_text();
  }
  if (stage_ == Stage::connecting || stage_ == Stage::upgrading) {
    attempt_failed(why);
    return;
  }
  fail(why);
}

void FeedUpstream::on_timer(uv_timer_t* t) {
  auto* self = static_cast<FeedUpstream*>(t->data);
  if (self == nullptr) {
    return;
  }
  switch (self->stage_) {
    case Stage::resolving:
      self->fail("resolving " + self->target_.source->name + " timed out after " +
                 std::to_string(self->target_.connect_timeout.count()) + " ms");
      return;
    case Stage::connecting:
    case Stage::upgrading: {
      // A source that stalls in TLS is one that stalls in TCP: next address, then backoff.
      const TlsStream* t = self->conn_ ? self->conn_->tls() : nullptr;
      const char* what = self->stage_ == Stage::connecting        ? "connect() timed out"
                         : t != nullptr && !t->established() ? "TLS handshake timeout"
                                                             : "the upgrade timed out";
      self->attempt_failed(std::string(what) + " after " + std::to_string(self->target_.connect_timeout.count()) +
                           " ms");
      return;
    }
    case Stage::closing: self->fail(""); return;
    case Stage::relaying: {
      int64_t quiet = now_ms(self->res_.loop) - self->last_heard_ms_;
      if (quiet >= 2 * kQuietMs) {
        self->fail("the source sent nothing, not even a pong, for " + std::to_string(quiet / 1000) + " s");
      } else if (quiet >= kQuietMs && !self->ping_outstanding_ && !self->codec_->output_mid_frame()) {
        self->ping_outstanding_ = true;
        self->codec_->send_control(opcode::ping, reinterpret_cast<const uint8_t*>("wsgate"), 6);
        self->conn_->flush();
      }
      return;
    }
    case Stage::down: return;
  }
}

void FeedUpstream::fail(const std::string& why) {
  if (stage_ == Stage::down) {
    return;
  }
  bool was_up = stage_ == Stage::relaying || stage_ == Stage::closing;
  stage_ = Stage::down;
  connect_.cancel();
  resolve_.cancel();
  if (codec_) {
    codec_->discard_input();
  }
  timer_.close();
  if (conn_) {
    conn_->close();
  }
  host_.on_upstream_down(*this, was_up, why);
}

}  // namespace wsgate::worker
