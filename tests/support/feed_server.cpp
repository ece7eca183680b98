#include "tests/support/feed_server.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cassert>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>

namespace wsgate::test {

namespace {

constexpr std::uint64_t kTickMs = 1;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

// Messages due after `elapsed` ns at `rate` per second, without overflowing
// 64 bits however long the channel has been running.
std::uint64_t due_after(std::uint64_t elapsed, std::uint64_t rate) {
  return elapsed / kNsPerSecond * rate + elapsed % kNsPerSecond * rate / kNsPerSecond;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

}  // namespace

FeedServer::FeedServer(FeedOptions options)
    : options_(std::move(options)),
      server_(
          "wsgate-feed-source", options_.name, [this] { return std::make_unique<FeedConnection>(*this); },
          [this](int signum) { on_stop(signum); }) {
  if (options_.tls_cert.empty() && options_.tls_key.empty()) return;
  std::string error;
  tls_ = make_tls_server_context(options_.tls_cert, options_.tls_key, error);
  if (!tls_) throw std::runtime_error(error);
  plain_buf_.resize(64 * 1024);
  // Ticket keys derived from the key file: a restarted feed (or a second
  // one with the same key, like a vendor's fleet) accepts the tickets the
  // last one issued, so a reconnecting client can resume.
  std::ifstream in(options_.tls_key, std::ios::binary);
  const std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char keys[80] = {};
  SHA512(reinterpret_cast<const unsigned char*>(key.data()), key.size(), keys);
  SHA256(keys, 64, keys + 48);  // 80 bytes: name 16, HMAC 32, AES 32
  if (SSL_CTX_set_tlsext_ticket_keys(tls_.get(), keys, sizeof keys) != 1) throw std::runtime_error("ticket keys");
}

int FeedServer::run() {
  uv_loop_t* loop = server_.loop();
  if (tick_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) < 0) {
    log("uv_timer_init() failed while starting");
    return 1;
  }
  return server_.run(options_.listen);
}

// ---------------------------------------------------------------- channels

std::uint64_t FeedServer::join(FeedConnection* c, const std::string& path) {
  Channel& ch = channels_.try_emplace(path, path, options_).first->second;
  if (ch.members.empty()) {
    // A new run: the next message is due now, the rest at `rate` from here.
    ch.base_ns = monotonic_ns();
    ch.base_seq = ch.seq + 1;
    ch.behind_logged = false;
  }
  ch.members.push_back(c);
  ++connections_open_;
  if (active(ch)) start_ticking();
  return ++connections_total_;
}

void FeedServer::leave(FeedConnection* c, const std::string& path) {
  const auto it = channels_.find(path);
  assert(it != channels_.end() && "leaving a channel never joined");
  auto& members = it->second.members;
  const auto m = std::find(members.begin(), members.end(), c);
  assert(m != members.end() && "leaving a channel twice");
  members.erase(m);
  --connections_open_;
}

bool FeedServer::active(const Channel& ch) const {
  return !server_.stopping() && options_.rate > 0 && !ch.members.empty() &&
         (options_.count == 0 || ch.seq < options_.count);
}

void FeedServer::start_ticking() {
  if (ticking_) return;
  ticking_ = true;
  const int rc = uv_timer_start(tick_.get(), &FeedServer::on_tick, kTickMs, kTickMs);
  assert(rc == 0 && "uv_timer_start on an initialized timer cannot fail");
  (void)rc;
}

void FeedServer::on_tick(uv_timer_t* timer) {
  auto* self = static_cast<FeedServer*>(timer->data);
  if (self) self->tick();
}

void FeedServer::tick() {
  const std::uint64_t now = monotonic_ns();
  bool any_active = false;
  std::vector<FeedConnection*> slow;
  for (auto& [path, ch] : channels_) {
    if (!active(ch)) continue;
    if (emit(path, ch, now) > 0) {
      // A copy: a failed write ends its connection, which leaves `members`.
      targets_ = ch.members;
      for (FeedConnection* c : targets_) {
        if (c->ended()) continue;
        c->send(batch_);
        if (c->overflowing()) slow.push_back(c);
      }
    }
    any_active = any_active || active(ch);
  }
  // Dropped only after the walk over all channels.
  for (FeedConnection* c : slow)
    if (!c->ended()) c->drop_slow();
  if (!any_active && ticking_) {
    uv_timer_stop(tick_.get());
    ticking_ = false;
  }
}

// Formats the channel's due messages into batch_; returns how many.
std::uint64_t FeedServer::emit(const std::string& path, Channel& ch, std::uint64_t now) {
  const std::uint64_t rate = options_.rate;
  std::uint64_t target = ch.base_seq + due_after(now - ch.base_ns, rate);
  if (options_.count > 0) target = std::min(target, options_.count);
  if (target <= ch.seq) return 0;
  // A late tick catches up, but by at most 20 ms worth at once; more than a
  // second behind (the loop cannot keep up), the schedule restarts from now
  // instead of bursting forever.
  const std::uint64_t cap = std::max<std::uint64_t>(1, rate / 50);
  std::uint64_t n = std::min(target - ch.seq, cap);
  if (target - ch.seq > rate) {
    if (!ch.behind_logged)
      log("channel " + path + " fell over 1 s behind at " + std::to_string(rate) + " msg/s; skipping ahead");
    ch.behind_logged = true;
    ch.base_ns = now;
    ch.base_seq = ch.seq + n;
  }
  batch_.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string_view msg = ch.formatter.format(++ch.seq, monotonic_ns());
    FrameHeader h;
    h.opcode = kText;
    h.length = msg.size();
    batch_ += encode_header(h);
    batch_ += msg;
  }
  return n;
}

// ---------------------------------------------------------------- control

void FeedServer::record(std::uint64_t conn, const std::string& channel, std::string text) {
  ++received_total_;
  if (!options_.quiet)
    log("connection " + std::to_string(conn) + " on " + channel + " sent " + std::to_string(text.size()) + " bytes");
  if (received_.size() < kMaxRecorded) received_.push_back({conn, channel, std::move(text)});
}

std::string FeedServer::stats_json() const {
  std::string j = "{\"connections_total\":" + std::to_string(connections_total_) +
                  ",\"connections_open\":" + std::to_string(connections_open_) +
                  ",\"slow_drops\":" + std::to_string(slow_drops_) +
                  ",\"tls_handshakes\":" + std::to_string(tls_handshakes_) +
                  ",\"tls_resumed\":" + std::to_string(tls_resumed_) + ",\"last_authorization\":";
  append_json_string(j, last_authorization_);
  j += ",\"channels\":{";
  bool first = true;
  for (const auto& [path, ch] : channels_) {
    if (!first) j += ',';
    first = false;
    append_json_string(j, path);
    j += ":{\"open\":" + std::to_string(ch.members.size()) + ",\"seq\":" + std::to_string(ch.seq) + "}";
  }
  j += "},\"received_total\":" + std::to_string(received_total_) + ",\"received\":[";
  first = true;
  for (const Received& r : received_) {
    if (!first) j += ',';
    first = false;
    j += "{\"conn\":" + std::to_string(r.conn) + ",\"path\":";
    append_json_string(j, r.channel);
    j += ",\"text\":";
    append_json_string(j, r.text);
    j += '}';
  }
  j += "]}";
  return j;
}

void FeedServer::drop_all() {
  std::size_t n = 0;
  for (FeedConnection* c : server_.all()) {
    if (c->id() == 0) continue;  // plain HTTP, e.g. the /_drop request itself
    c->drop();                   // retire() keeps it alive until the check phase
    ++n;
  }
  log("/_drop: reset " + std::to_string(n) + " WebSocket connections");
}

// ---------------------------------------------------------------- shutdown

// SIGTERM/SIGINT: stop emitting; the connections then close with 1001 and
// get 1 s for the peer's reply.
void FeedServer::on_stop(int signum) {
  if (!options_.quiet)
    log("signal " + std::to_string(signum) + ": closing " + std::to_string(server_.size()) + " connections with 1001");
  tick_.close();
  ticking_ = false;
}

}  // namespace wsgate::test
