#include "tests/support/feed_server.h"

#include <algorithm>
#include <cassert>
#include <csignal>
#include <cstdio>

namespace wsgate::test {

namespace {

constexpr int kBacklog = 4096;  // bursts of thousands of connects in benchmarks
constexpr std::uint64_t kStopWaitMs = 1000;
constexpr std::uint64_t kTickMs = 1;
constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

std::string display_host(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

int bound_port(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -1;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

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
    : options_(std::move(options)), read_buf_(kReadBufferSize) {}

FeedServer::~FeedServer() {
  // Connections close their handles as they go; UvLoop's destructor then
  // runs the close callbacks.
  connections_.clear();
  retired_.clear();
}

int FeedServer::run() {
  uv_loop_t* loop = loop_.get();
  if (reaper_.init([loop](uv_check_t* c) { return uv_check_init(loop, c); }, this) < 0 ||
      uv_check_start(reaper_.get(), &FeedServer::on_check) < 0 ||
      tick_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) < 0) {
    log("uv_check_init()/uv_timer_init() failed while starting");
    return 1;
  }
  uv_unref(reaper_.base());  // must not keep the loop alive on its own
  if (!watch_signals() || !listen()) return 1;
  const int rc = uv_run(loop, UV_RUN_DEFAULT);
  assert(rc == 0 && "uv_run returned with live handles");
  (void)rc;
  reaper_.close();
  retired_.clear();
  return 0;
}

bool FeedServer::listen() {
  const std::string where = display_host(options_.host) + ":" + std::to_string(options_.port);
  sockaddr_storage addr{};
  const bool v6 = options_.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(options_.host.c_str(), options_.port,
                            reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(options_.host.c_str(), options_.port,
                            reinterpret_cast<sockaddr_in*>(&addr));
  if (rc < 0) {
    log("bad listen address " + where + " (" + uv_error_text(rc) + ")");
    return false;
  }
  uv_loop_t* loop = loop_.get();
  rc = listener_.init([loop](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, this);
  if (rc == 0) rc = uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(listener_.stream(), kBacklog, &FeedServer::on_connection);
  if (rc < 0) {
    log("bind()/listen() on " + where + " failed (" + uv_error_text(rc) + ") while starting");
    return false;
  }
  // Tests and scripts parse this line to learn the port when it was 0.
  std::printf("listening on %s:%d\n", display_host(options_.host).c_str(),
              bound_port(listener_.get()));
  std::fflush(stdout);
  return true;
}

bool FeedServer::watch_signals() {
  uv_loop_t* loop = loop_.get();
  auto init = [loop](uv_signal_t* s) { return uv_signal_init(loop, s); };
  int rc = sigterm_.init(init, this);
  if (rc == 0) rc = sigint_.init(init, this);
  if (rc == 0) rc = uv_signal_start(sigterm_.get(), &FeedServer::on_signal, SIGTERM);
  if (rc == 0) rc = uv_signal_start(sigint_.get(), &FeedServer::on_signal, SIGINT);
  if (rc < 0) log("uv_signal_start() failed (" + uv_error_text(rc) + ") while starting");
  return rc == 0;
}

void FeedServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<FeedServer*>(listener->data);
  if (!self) return;
  if (status < 0) {
    self->log("accept failed (" + uv_error_text(status) + ")");
    return;
  }
  self->accept_one();
}

void FeedServer::accept_one() {
  auto c = std::make_unique<FeedConnection>(*this);
  FeedConnection* raw = c.get();
  connections_.emplace(raw, std::move(c));
  if (!raw->start(listener_.stream())) raw->end();
}

uv_buf_t FeedServer::read_buffer() {
  return uv_buf_init(read_buf_.data(), static_cast<unsigned>(read_buf_.size()));
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
  return !stopping_ && options_.rate > 0 && !ch.members.empty() &&
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
      log("channel " + path + " fell over 1 s behind at " + std::to_string(rate) +
          " msg/s; skipping ahead");
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
    log("connection " + std::to_string(conn) + " on " + channel + " sent " +
        std::to_string(text.size()) + " bytes");
  if (received_.size() < kMaxRecorded) received_.push_back({conn, channel, std::move(text)});
}

std::string FeedServer::stats_json() const {
  std::string j = "{\"connections_total\":" + std::to_string(connections_total_) +
                  ",\"connections_open\":" + std::to_string(connections_open_) +
                  ",\"slow_drops\":" + std::to_string(slow_drops_) + ",\"channels\":{";
  bool first = true;
  for (const auto& [path, ch] : channels_) {
    if (!first) j += ',';
    first = false;
    append_json_string(j, path);
    j += ":{\"open\":" + std::to_string(ch.members.size()) + ",\"seq\":" + std::to_string(ch.seq) +
         "}";
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

std::vector<FeedConnection*> FeedServer::all_connections() const {
  std::vector<FeedConnection*> all;
  for (const auto& entry : connections_) all.push_back(entry.first);
  return all;
}

void FeedServer::drop_all() {
  std::size_t n = 0;
  for (FeedConnection* c : all_connections()) {
    if (c->id() == 0) continue;  // plain HTTP, e.g. the /_drop request itself
    c->drop();                   // retire() keeps it alive until the check phase
    ++n;
  }
  log("/_drop: reset " + std::to_string(n) + " WebSocket connections");
}

void FeedServer::retire(FeedConnection* c) {
  const auto it = connections_.find(c);
  assert(it != connections_.end() && "retiring a connection that is not registered");
  retired_.push_back(std::move(it->second));
  connections_.erase(it);
  finish_stop_if_idle();
}

void FeedServer::on_check(uv_check_t* check) {
  auto* self = static_cast<FeedServer*>(check->data);
  if (self) self->retired_.clear();
}

// ---------------------------------------------------------------- shutdown

void FeedServer::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<FeedServer*>(handle->data);
  if (self) self->stop(signum);
}

// SIGTERM/SIGINT: stop emitting and accepting, close 1001 to every
// subscriber, give the peers up to 1 s to answer, then end what is left.
void FeedServer::stop(int signum) {
  if (stopping_) return;
  stopping_ = true;
  if (!options_.quiet)
    log("signal " + std::to_string(signum) + ": closing " + std::to_string(connections_.size()) +
        " connections with 1001");
  listener_.close();
  sigterm_.close();
  sigint_.close();
  tick_.close();
  ticking_ = false;
  uv_loop_t* loop = loop_.get();
  if (stop_timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) == 0)
    uv_timer_start(stop_timer_.get(), &FeedServer::on_stop_timer, kStopWaitMs, 0);
  for (FeedConnection* c : all_connections()) c->go_away();
  finish_stop_if_idle();
}

void FeedServer::on_stop_timer(uv_timer_t* timer) {
  auto* self = static_cast<FeedServer*>(timer->data);
  if (!self) return;
  for (FeedConnection* c : self->all_connections()) c->end();
  self->finish_stop_if_idle();
}

void FeedServer::finish_stop_if_idle() {
  if (stopping_ && connections_.empty()) stop_timer_.close();
}

void FeedServer::log(std::string_view what) const {
  std::fprintf(stderr, "wsgate-feed-source[%s]: %.*s\n", options_.name.c_str(),
               static_cast<int>(what.size()), what.data());
}

}  // namespace wsgate::test
