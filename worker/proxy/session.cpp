#include "worker/proxy/session.h"

#include <algorithm>
#include <cstring>

#include "worker/conn/http_answer.h"
#include "worker/conn/keepalive_cycle.h"
#include "worker/conn/rule_limits.h"
#include "worker/conn/tls_failure_log.h"
#include "worker/log/log.h"
#include "worker/net/peer_watch.h"
#include "worker/net/random_bytes.h"

namespace wsgate::worker {

namespace {
// Output beyond this stops reading the peer that feeds it until it drains;
// with one 64 KiB read in progress, a direction never holds much more.
constexpr size_t kHighWater = 256 * 1024;
// A keep-alive ping waits while the client's output is inside a frame; it
// is tried again this often until the frame is done.
constexpr conf::Duration kPingRetry = std::chrono::milliseconds(100);
// Lingering after a close wsgate sent (RFC 6455 7.1.1, nginx's lingering
// close): a peer may still be sending when its close goes out, and closing a
// socket with unread input sends a reset that can destroy the close frame
// before the peer reads it. So the write side is shut behind the close and
// input is read and dropped until the peer closes, for at most close_timeout
// and this many bytes.
constexpr uint64_t kLingerMaxBytes = 16 * 1024 * 1024;
// After close_timeout has run out, an owed close just sent still gets this
// long to be read.
constexpr conf::Duration kLingerAfterTimeout = std::chrono::seconds(1);

int64_t ms(conf::Duration d) { return d.count(); }
}  // namespace

// What the session holds while it has no backend: the client's request (the
// first dial only), the dial, and failed attempts' connections. Released once
// relaying starts, made again to reconnect. It is the dial's host, forwarding
// to the session, so dialing adds no bytes to a relaying session.
struct Session::Handshake final : DialHost {
  explicit Handshake(Session& s) : session(s) {}

  TcpConn& new_backend_conn() override {
    session.backend_ = std::make_unique<Side>(session, true);
    return *session.backend_->conn;
  }
  void drop_backend_conn() override { session.abandon_attempt(); }
  void count_backend(size_t i) override {
    session.counted_ = i;
    session.ctx_.table.add_session(session.ctx_.slot, session.pool_rt_->backend_ids[i], 1);
  }
  void release_backend() override { session.release_backend(); }
  void arm_dial_timer(conf::Duration d) override {
    session.timer_.arm(d, [](Session& s) { s.hs_->dial->on_timeout(); });
  }
  void on_upgraded(const std::string& protocol, std::string_view rest) override { session.on_upgraded(protocol, rest); }
  void on_refused(const std::string& response, int status) override { session.answer_raw(response, status); }
  void on_exhausted() override { session.on_dial_exhausted(); }

  Session& session;
  // Client bytes not relayed yet: the request, then its early frames (H9);
  // when reconnecting, what the client sent meanwhile (header_size 0).
  std::string received;
  size_t header_size = 0;
  std::unique_ptr<RequestReader> reader;  // the request; null when reconnecting (saved_request_)
  std::optional<Dial> dial;
  std::vector<std::unique_ptr<Side>> abandoned;  // failed attempts' sides, freed with the session
};

Session::Side::Side(Session& s, bool backend)
    : RelayPeer(backend), conn(std::make_unique<TcpConn>(s.ctx_.loop, s.ctx_.buffers, s.ctx_.read_buffer(), s)) {}

Session::Side::Side(Session& s, std::unique_ptr<TcpConn> accepted) : RelayPeer(false), conn(std::move(accepted)) {
  conn->set_owner(s);
}

Session::Session(WorkerContext& ctx, ConnectionHost& host, SessionStart start)
    : ctx_(ctx),
      host_(host),
      live_(std::move(start.live)),
      client_(std::make_unique<Side>(*this, std::move(start.conn))),
      hs_(std::make_unique<Handshake>(*this)),
      route_(start.route),
      pool_(&live_->config->pools[route_->pool_index]),
      pool_rt_(&live_->pools[route_->pool_index]),
      client_ip_(std::move(start.client_ip)),
      ip_lease_(std::move(start.ip_lease)),
      stats_(std::move(start.stats)) {
  hs_->received = std::move(start.received);
  hs_->header_size = start.header_size;
  hs_->reader = std::move(start.reader);
  (void)timer_.init(ctx_.loop, *this);  // checked in start()
}

Session::~Session() {
  ctx_.paused_watch.remove(*this);
  end_stats();
  release_backend();
  ctx_.table.add_connection(ctx_.slot, -1);
}

void Session::start() {
  if (!timer_.ready()) {
    LOG_WARN("uv_timer_init() failed for client %s; dropping it", client_ip_.c_str());
    retire();
    return;
  }
  if (pool_->on_backend_loss == conf::LossPolicy::reconnect) {
    saved_request_ = std::make_unique<ClientRequest>(request());
  }
  hs_->dial.emplace(ctx_, *hs_, *pool_, *pool_rt_, request(), client_ip_);
  hs_->dial->next();
}

// ---------------------------------------------------------------- connection events

Session::Side& Session::side_of(TcpConn& c) { return client_ && client_->conn.get() == &c ? *client_ : *backend_; }

void Session::on_conn_read(TcpConn& c, const uint8_t* data, size_t n) {
  Side& s = side_of(c);
  if (!s.is_backend) {
    keepalive_.heard(uv_now(ctx_.loop));  // any bytes at all: the client is there
  }
  switch (stage_) {
    case Stage::dialing:
    case Stage::reconnecting:
      if (s.is_backend) {
        hs_->dial->on_bytes(data, n);
      } else if (stage_ == Stage::dialing) {
        on_held_client_bytes(data, n);
      } else {
        hold_client_bytes(data, n);
      }
      break;
    case Stage::relaying:
    case Stage::closing: pump(s, data, n); break;
    case Stage::lingering: linger_discard(n); break;
    default: break;  // answering: a refused client's further bytes are not processed (H5)
  }
}

void Session::on_conn_eof(TcpConn& c) {
  Side& s = side_of(c);
  switch (stage_) {
    case Stage::dialing:
      if (s.is_backend && hs_->dial->upgrading()) {
        hs_->dial->on_eof();
      }
      break;  // a client that left is noticed again when relaying starts
    case Stage::reconnecting:
      if (s.is_backend && hs_->dial->upgrading()) {
        hs_->dial->on_eof();
      } else if (!s.is_backend) {
        retire();  // the client left while we looked for another backend
      }
      break;
    case Stage::relaying:
    case Stage::closing:
      s.hung_up = true;
      if (s.gone) {
        relay().maybe_finish();  // the relay was done with it: its end is only noted
      } else {
        side_gone(s, s.is_backend ? close_code::internal_error : close_code::going_away);
      }
      break;
    case Stage::lingering:
      s.hung_up = true;
      linger_check();
      break;
    default: stats_.note_closer(log::Closer::client); retire();  // a client that leaves after its error answer
  }
}

void Session::on_conn_error(TcpConn& c, int uv_status, const char* while_doing) {
  Side& s = side_of(c);
  if (!s.is_backend && log_tls_failure(ctx_, c, while_doing)) {
    // a client's bad record or abort after the handshake: its reason, rate-limited
  } else if (uv_status != UV_ECONNRESET && uv_status != UV_EPIPE) {
    LOG_WARN("%s %s failed (%s), client %s", while_doing, s.is_backend ? "backend" : "client",
             log::uv_error_text(uv_status).c_str(), client_ ? client_->conn->peer_name(true).c_str() : "?");
  }
  if (s.is_backend && has_dial() && hs_->dial->upgrading()) {
    hs_->dial->on_failure(std::string(while_doing) + " failed (" + log::uv_error_text(uv_status) + ")");
  } else {
    on_conn_eof(c);
  }
}

void Session::on_conn_flushed(TcpConn& c) {
  if (stage_ != Stage::relaying && stage_ != Stage::closing) {
    return;
  }
  if (relay_.over) {
    retire_if_flushed();
    return;
  }
  Side& feeder = other(side_of(c));
  if (feeder.paused && !feeder.gone) {
    resume(feeder);
  }
}

// Client bytes that came while a backend is being dialed: kept behind the
// request and relayed after the 101 (H9). One read's worth at most: reading
// stops, and the rest waits in the kernel's buffer, bounded by it.
void Session::on_held_client_bytes(const uint8_t* data, size_t n) {
  hs_->received.append(reinterpret_cast<const char*>(data), n);
  client_->conn->stop_reading();
}

// ---------------------------------------------------------------- the dial's outcomes (worker/proxy/dial.h)

void Session::on_upgraded(const std::string& protocol, std::string_view rest) {
  if (stage_ == Stage::reconnecting) {
    resume_relay(rest);
    return;
  }
  protocol_ = protocol;
  start_relay(format_switching_protocols(request(), protocol), rest);
}

void Session::on_dial_exhausted() {
  if (stage_ == Stage::reconnecting) {
    give_up_reconnect(close_code::service_restart, "no other backend of pool " + pool_->name + " accepted");
  } else if (hs_->dial->attempts() > 0 && !hs_->dial->last_5xx().empty()) {
    answer_raw(hs_->dial->last_5xx(), 502);
  } else {
    answer(hs_->dial->no_backend_error());
  }
}

std::string Session::backend_label() const {
  if (!counted_) {
    return "-";
  }
  return pool_->name + "/" + pool_->backends[*counted_].endpoint.to_string();
}

// Drops the dial in progress: its connect request no longer calls back
// here, and its connection is closed now but freed with the session, since
// this may run inside that connection's own callback.
void Session::abandon_attempt() {
  hs_->dial->cancel();
  if (backend_) {
    backend_->conn->close();
    hs_->abandoned.push_back(std::move(backend_));
  }
}

void Session::release_backend() {
  register_relaying(false);
  if (counted_ && pool_rt_ != nullptr) {
    ctx_.table.add_session(ctx_.slot, pool_rt_->backend_ids[*counted_], -1);
    counted_.reset();
  }
}

// ---------------------------------------------------------------- relay

void Session::start_relay(const std::string& response_101, std::string_view backend_rest) {
  count_handshake(101);
  shm::bump(ctx_.table.metrics_row(ctx_.slot).backend_upgrades[pool_rt_->backend_ids[*counted_]]);
  stats_.backend = static_cast<uint32_t>(*counted_);
  stage_ = Stage::relaying;
  timer_.stop();
  register_relaying(true);
  client_->rules = MessageRules(rule_limits(*live_->config, *route_, true));
  backend_->rules = MessageRules(rule_limits(*live_->config, *route_, false));
  client_->codec = std::make_unique<FrameCodec>(*client_, false, ctx_.client_frames);
  backend_->codec = std::make_unique<FrameCodec>(*backend_, true, ctx_.backend_frames);
  client_->conn->append(response_101);
  client_->conn->flush();

  std::unique_ptr<Handshake> hs = std::move(hs_);
  keepalive_.heard(uv_now(ctx_.loop));
  relay_early_bytes(backend_rest, std::string_view(hs->received).substr(hs->header_size));
  KeepaliveCycle<Session>::arm(*this);
}

// What each peer sent before relaying began (frames right behind a 101, or
// client bytes held during a reconnect) goes first, backend side first so the
// client sees it right after the 101; then both connections are read.
void Session::relay_early_bytes(std::string_view from_backend, std::string_view from_client) {
  if (!from_backend.empty()) {
    pump(*backend_, reinterpret_cast<const uint8_t*>(from_backend.data()), from_backend.size());
  }
  if (!from_client.empty() && stage_ == Stage::relaying) {
    pump(*client_, reinterpret_cast<const uint8_t*>(from_client.data()), from_client.size());
  }
  for (Side* s : {client_.get(), backend_.get()}) {
    if (stage_ != Stage::done && !s->gone && !s->paused) {
      s->conn->start_reading();
    }
  }
}

// The relay checks and forwards what was read; here the bytes it queued are
// written, the metrics row learns the flow once per read, and a peer whose
// output backs up stops feeding it.
void Session::pump(Side& src, const uint8_t* data, size_t n) {
  if (src.gone || relay_.over || !src.codec) {
    return;
  }
  Side& dst = other(src);
  const FlowCount before = src.is_backend ? stats_.down : stats_.up;
  relay().pump(src, data, n);
  publish_flow(src, before);
  if (stage_ == Stage::done) {
    return;
  }
  dst.conn->flush();
  src.conn->flush();
  src.codec->release_if_idle();
  dst.codec->release_if_idle();
  if (!src.gone && !src.paused && dst.conn->pending() > kHighWater) {
    pause(src);
  }
}

// ---------------------------------------------------------------- backpressure

void Session::pause(Side& src) {
  src.paused = true;
  src.conn->stop_reading();
  ctx_.paused_watch.add(ctx_.loop, *this);
}

void Session::resume(Side& src) {
  src.paused = false;
  src.conn->start_reading();
  if (!client_->paused && !backend_->paused) {
    ctx_.paused_watch.remove(*this);
  }
}

// How long a side may stay paused while the other side reads nothing at
// all: the silence keep-alive allows a client, or 60 s (nginx's
// proxy_send_timeout) on routes without keep-alive.
conf::Duration Session::stall_limit() const {
  if (route_->ping_interval != conf::Duration::zero()) {
    return route_->ping_interval + route_->pong_timeout;
  }
  return std::chrono::seconds(60);
}

// Once a second while a side is paused: a paused side that hung up or failed
// is treated as if it had been read (EOF, error), and a session whose other
// side has read nothing for stall_limit() loses that side as stuck. `e` is
// gone once the session leaves the watch.
void Session::on_paused_check(PausedWatch::Entry& e, uint64_t now_ms) {
  if (stage_ != Stage::relaying && stage_ != Stage::closing) {
    ctx_.paused_watch.remove(*this);
    return;
  }
  for (Side* s : {client_.get(), backend_.get()}) {
    if (s->paused && !s->gone && !check_paused_side(*s)) {
      return;  // it hung up: the session has moved on
    }
  }
  Side* src = client_->paused && !client_->gone     ? client_.get()
              : backend_->paused && !backend_->gone ? backend_.get()
                                                    : nullptr;
  if (src == nullptr) {
    ctx_.paused_watch.remove(*this);
    return;
  }
  Side& dst = other(*src);
  uv_os_fd_t fd = -1;
  PeerProbe probe;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(dst.conn->tcp()), &fd) != 0 || !probe_peer(fd, probe)) {
    return;
  }
  if (probe.bytes_acked != e.acked) {
    e.acked = probe.bytes_acked;
    e.progress_ms = now_ms;
    return;
  }
  if (now_ms - e.progress_ms < static_cast<uint64_t>(ms(stall_limit()))) {
    return;
  }
  LOG_INFO("%s %s read nothing for %lld ms while %s waited to send: dropping it", dst.is_backend ? "backend" : "client",
           label(dst).c_str(), static_cast<long long>(now_ms - e.progress_ms),
           dst.is_backend ? "its client" : "its backend");
  ctx_.paused_watch.remove(*this);
  dst.conn->close();  // its output cannot drain: no close frame can reach it
  on_conn_eof(*dst.conn);
  if (src->paused && (stage_ == Stage::relaying || stage_ == Stage::closing)) {
    resume(*src);  // nothing to wait for any more: read it again, for its close
  }
}

// False when `s` hung up (its end is then handled as if it had been read).
bool Session::check_paused_side(Side& s) {
  uv_os_fd_t fd = -1;
  PeerProbe probe;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(s.conn->tcp()), &fd) != 0 || !probe_peer(fd, probe)) {
    return true;
  }
  if (!probe.hung_up && probe.error == 0) {
    return true;
  }
  ctx_.paused_watch.remove(*this);
  s.paused = false;
  if (probe.error != 0) {
    on_conn_error(*s.conn, uv_translate_sys_error(probe.error), "reading (while paused)");
  } else {
    on_conn_eof(*s.conn);
  }
  return false;
}

// ---------------------------------------------------------------- backend loss

const ClientRequest& Session::request() const {
  return stage_ == Stage::reconnecting ? *saved_request_ : hs_->reader->request();
}

void Session::register_relaying(bool on) {
  if (on == registered_ || !counted_) {
    return;
  }
  auto& set = ctx_.relaying_on[pool_rt_->backend_ids[*counted_]];
  if (on) {
    set.insert(this);
  } else {
    set.erase(this);
  }
  registered_ = on;
}

void Session::on_backend_lost(const std::string& why, bool count_failure) {
  if (stage_ != Stage::relaying || !counted_) {
    return;
  }
  uint32_t id = pool_rt_->backend_ids[*counted_];
  LOG_INFO("backend \"%s\" lost (%s), client %s", backend_label().c_str(), why.c_str(),
           client_->conn->peer_name(true).c_str());
  if (count_failure) {
    ctx_.table.record_failure(id, shm::monotonic_ms(), ms(pool_->fail_timeout), why);
  }
  backend_->gone = true;
  backend_->conn->close();  // a frozen backend keeps its socket open: let it go
  if (client_->paused) {
    // Its queue went with it: the client is read again (held while reconnecting,
    // else for its close reply).
    client_->paused = false;
    client_->conn->start_reading();
    ctx_.paused_watch.remove(*this);
  }
  size_t lost = *counted_;
  release_backend();
  if (pool_->on_backend_loss == conf::LossPolicy::reconnect && can_move()) {
    start_reconnect();
    hs_->dial->exclude(lost);
    hs_->dial->next();
    return;
  }
  stats_.note_closer(log::Closer::backend);
  schedule_loss_close();
}

// Closes caused by one loss are spread over loss_spread with jitter, so
// thousands of clients do not reconnect in the same millisecond.
void Session::schedule_loss_close() {
  int64_t spread = ms(pool_->loss_spread);
  uint32_t r = 0;
  fill_random(reinterpret_cast<uint8_t*>(&r), sizeof r);
  int64_t delay = spread > 0 ? static_cast<int64_t>(r % static_cast<uint64_t>(spread)) : 0;
  timer_.arm(conf::Duration(delay), [](Session& s) {
    Relay r = s.relay();
    r.send_close(*s.client_, close_code::service_restart, "backend lost");
    r.maybe_finish();
  });
}

// A session can move to another backend only between messages toward the
// client: the new backend cannot finish a message the lost one started.
bool Session::can_move() const {
  return saved_request_ && !ctx_.stopping && !client_->gone && !client_->close_received && !client_->close_sent &&
         !client_->codec->output_mid_frame() && !backend_->rules.in_message();
}

void Session::start_reconnect() {
  stage_ = Stage::reconnecting;
  relay_.drop_client_message = client_->rules.in_message() || client_->codec->input_mid_frame();
  if (relay_.drop_client_message) {
    ++ctx_.messages_dropped;
  }
  hs_ = std::make_unique<Handshake>(*this);
  hs_->abandoned.push_back(std::move(backend_));
  hs_->dial.emplace(ctx_, *hs_, *pool_, *pool_rt_, *saved_request_, client_ip_);
  hs_->dial->require_protocol(protocol_);
  // The client keeps sending meanwhile; its bytes wait in hs_->received (bounded).
}

void Session::hold_client_bytes(const uint8_t* data, size_t n) {
  if (hs_->received.size() + n > pool_->reconnect_buffer) {
    ++ctx_.messages_dropped;
    give_up_reconnect(close_code::try_later, "reconnect_buffer full");
    return;
  }
  hs_->received.append(reinterpret_cast<const char*>(data), n);
}

void Session::resume_relay(std::string_view leftover) {
  backend_->rules = MessageRules(rule_limits(*live_->config, *route_, false));
  backend_->codec = std::make_unique<FrameCodec>(*backend_, true, ctx_.backend_frames);
  stage_ = Stage::relaying;
  timer_.stop();
  register_relaying(true);
  stats_.backend = static_cast<uint32_t>(*counted_);
  ++ctx_.sessions_moved;
  LOG_INFO("session of client %s moved to backend \"%s\"", client_->conn->peer_name(true).c_str(),
           backend_label().c_str());
  // Runs inside the new backend's read callback: the handshake state goes
  // once this returns; nothing below touches it.
  std::unique_ptr<Handshake> hs = std::move(hs_);
  relay_early_bytes(leftover, hs->received);
  KeepaliveCycle<Session>::arm(*this);  // the client's silence counts from before the move
}

void Session::give_up_reconnect(uint16_t code, const std::string& why) {
  LOG_INFO("cannot move the session of client %s: %s; closing it with %u", client_->conn->peer_name(true).c_str(),
           why.c_str(), code);
  release_backend();
  abandon_attempt();
  // A stand-in for the lost backend: gone, so the close logic below waits
  // only for the client. hs_ stays until the session ends: this may run
  // inside a callback of a connection it holds.
  backend_ = std::make_unique<Side>(*this, true);
  backend_->gone = true;
  stage_ = Stage::relaying;
  hs_->received.clear();
  stats_.note_closer(log::Closer::backend);
  Relay r = relay();
  r.send_close(*client_, code, "backend lost");
  r.maybe_finish();
}

// ---------------------------------------------------------------- runtime control

// The move waits on the session's own timer (jitter chosen by the drainer),
// which keep-alive gives up meanwhile; the pending action marks it due, so
// no other member is needed.
bool Session::schedule_move(uint64_t delay_ms) {
  if (stage_ != Stage::relaying || !counted_ || timer_.action() == &Session::on_move_due) {
    return false;
  }
  timer_.arm(conf::Duration(static_cast<int64_t>(delay_ms)), &Session::on_move_due);
  return true;
}

void Session::on_move_due(Session& s) {
  s.timer_.forget();  // no longer due: once moved, it may be moved again
  s.move_off();
  if (s.stage_ == Stage::relaying) {
    KeepaliveCycle<Session>::arm(s);  // still here (it could not move): keep-alive has the timer back
  }
}

// Like a lost backend (on_backend_lost), except that the backend is fine:
// it gets a close 1001 rather than a dropped connection, and no health
// failure is counted.
void Session::move_off() {
  if (stage_ != Stage::relaying || !counted_) {
    return;
  }
  if (pool_->on_backend_loss == conf::LossPolicy::reconnect && can_move() && !backend_->codec->output_mid_frame()) {
    LOG_INFO("moving the session of client %s off backend \"%s\"", client_->conn->peer_name(true).c_str(),
             backend_label().c_str());
    backend_->codec->send_close(close_code::going_away, "session moved");
    count_close(*backend_, true, close_code::going_away);
    backend_->conn->flush();
    backend_->gone = true;
    backend_->conn->close();
    const size_t from = *counted_;
    release_backend();
    start_reconnect();
    hs_->dial->exclude(from);
    hs_->dial->next();
    return;
  }
  Relay r = relay();
  r.send_close(*client_, close_code::service_restart, "moved off its backend: reconnect");
  r.send_close(*backend_, close_code::going_away, "session moved");
  r.maybe_finish();
}

// ---------------------------------------------------------------- closing

void Session::on_closing() {
  if (stage_ == Stage::relaying) {
    stage_ = Stage::closing;
    timer_.arm(live_->config->limits.close_timeout, [](Session& s) {
      LOG_INFO("close handshake not finished within close_timeout, client %s; dropping both connections",
               s.client_->conn->peer_name(true).c_str());
      s.relay().pay_owed_closes();  // an offender still gets its code
      if (s.stage_ != Stage::done) {
        s.linger_or_retire(std::min(s.live_->config->limits.close_timeout, kLingerAfterTimeout));
      }
    });
  }
}

// A backend that drops its connection mid-session, before any close, is a
// lost backend (its pool's on_backend_loss applies); anything else gone ends
// the relay's close handshake.
void Session::side_gone(Side& s, uint16_t other_code) {
  if (s.is_backend && !s.close_received && stage_ == Stage::relaying && !client_->close_received &&
      !client_->close_sent) {
    on_backend_lost("its connection dropped mid-session", true);
    return;
  }
  relay().peer_gone(s, other_code);
}

// Both close handshakes are over: let the last frames reach the wire, then close.
void Session::on_relay_over() {
  client_->conn->stop_reading();
  backend_->conn->stop_reading();
  client_->conn->flush();
  backend_->conn->flush();
  retire_if_flushed();
  if (stage_ == Stage::relaying || stage_ == Stage::closing) {
    // Output that does not drain (a peer that stopped reading, given up
    // without a close) is waited for no longer than a close reply.
    timer_.arm(live_->config->limits.close_timeout, [](Session& s) { s.retire(); });
  }
}

std::string Session::label(const RelayPeer& p) const {
  return p.is_backend ? backend_label() : client_->conn->peer_name(true);
}

void Session::retire_if_flushed() {
  // A flush that the socket took whole completes without a callback, so this
  // is asked both here and from on_conn_flushed.
  if (client_->conn->pending() == 0 && (!backend_ || backend_->conn->pending() == 0)) {
    linger_or_retire(live_->config->limits.close_timeout);
  }
}

// A side wsgate sent a close to that neither answered it nor hung up may
// still be sending (an offender, a peer busy writing a large message).
bool Session::wants_linger(const Side& s) { return s.conn->open() && s.close_sent && !s.close_received && !s.hung_up; }

// The relay is over: sides that may still be sending are lingered (see
// kLingerMaxBytes), the others closed now. The session is counted and
// logged as ended at once; only the sockets wait.
void Session::linger_or_retire(conf::Duration linger) {
  bool any = false;
  for (Side* s : {client_.get(), backend_.get()}) {
    if (s == nullptr) {
      continue;
    }
    if (wants_linger(*s)) {
      s->paused = false;
      s->conn->shutdown_after_flush();
      any = s->conn->start_reading() == 0 || any;
    } else {
      s->conn->close();
    }
  }
  if (!any) {
    retire();
    return;
  }
  release_backend();
  end_stats();
  stage_ = Stage::lingering;
  relay_.over = true;
  lingered_ = 0;
  timer_.arm(linger, [](Session& s) { s.retire(); });
}

void Session::linger_discard(size_t n) {
  lingered_ += n;
  if (lingered_ > kLingerMaxBytes) {
    retire();
  }
}

void Session::linger_check() {
  for (Side* s : {client_.get(), backend_.get()}) {
    if (s != nullptr && wants_linger(*s)) {
      return;
    }
  }
  retire();
}

void Session::answer(const HttpError& e) {
  if (e.status >= 500 || e.status == 408) {
    LOG_INFO("answered %d to client %s: %s", e.status, client_ip_.c_str(), e.why.c_str());
  }
  answer_raw(format_http_error(e), e.status);
}

void Session::answer_raw(const std::string& response, int status) {
  count_handshake(status);
  stats_.note_closer(log::Closer::wsgate);
  release_backend();
  if (hs_ && hs_->dial) {
    hs_->dial->cancel();
  }
  if (backend_) {
    backend_->conn->close();
  }
  stage_ = Stage::answering;
  send_http_answer(*client_->conn, response);
  timer_.arm(kAnswerLinger, [](Session& s) { s.retire(); });
}

void Session::shut_down() {
  switch (stage_) {
    case Stage::dialing: answer(HttpError{503, "wsgate is shutting down", {{"Retry-After", "1"}}}); return;
    case Stage::reconnecting:
      // The client already has its 101: it gets a close, not an HTTP answer.
      give_up_reconnect(close_code::going_away, "wsgate is shutting down");
      return;
    case Stage::relaying: {
      Relay r = relay();
      r.send_close(*client_, close_code::going_away, "wsgate is shutting down");
      r.send_close(*backend_, close_code::going_away, "wsgate is shutting down");
      r.maybe_finish();
      return;
    }
    default: return;
  }
}

void Session::retire() {
  if (stage_ == Stage::done) {
    return;
  }
  release_backend();
  end_stats();  // logged when it ends, not when it is freed
  ctx_.paused_watch.remove(*this);
  stage_ = Stage::done;
  relay_.over = true;  // a relay call this runs inside relays nothing more
  timer_.stop();
  if (hs_ && hs_->dial) {
    hs_->dial->cancel();
  }
  client_->conn->close();
  if (backend_) {
    backend_->conn->close();
  }
  host_.retire(*this);
}

// ---------------------------------------------------------------- keep-alive

// While relaying, the timer is free unless a reconnect or a loss close holds
// it; closing stages arm close_timeout over it, which ends the keep-alive.
bool Session::keepalive_owns_timer() const {
  return route_->ping_interval != conf::Duration::zero() && stage_ == Stage::relaying && !relay_.over &&
         !client_->gone && backend_ && !backend_->gone;
}

void Session::send_keepalive_ping() {
  if (client_->paused) {
    // Not read while the backend drains (backpressure): the client's
    // silence is ours, not its own, and says nothing about it.
    keepalive_.heard(now_ms());
    KeepaliveCycle<Session>::arm(*this);
    return;
  }
  if (client_->codec->output_mid_frame()) {
    timer_.arm(kPingRetry, &KeepaliveCycle<Session>::on_ping_due);  // a ping cannot go inside a frame
    return;
  }
  std::string payload = keepalive_ping_payload(++ctx_.keepalive_pings);
  client_->codec->send_control(opcode::ping, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  client_->codec->release_if_idle();
  KeepaliveCycle<Session>::ping_sent(*this);
  client_->conn->flush();  // a failed write ends the session from here: nothing after it
}

// Nothing at all from the client within pong_timeout of a ping: its end is
// gone without a word (cable pulled, machine off). A close frame is tried
// but not waited for, its TCP connection is closed, and the backend gets
// 1001 through side_gone(), which also stops counting the session.
void Session::drop_half_open() {
  LOG_INFO("client %s sent nothing within pong_timeout (%lld ms) of a ping: closing it as half-open",
           client_->conn->peer_name(true).c_str(), static_cast<long long>(ms(route_->pong_timeout)));
  relay().send_close(*client_, close_code::going_away, "ping timeout");
  if (stage_ == Stage::done) {
    return;  // writing the close failed, and that ended the session
  }
  client_->conn->close();
  side_gone(*client_, close_code::going_away);
}

// ---------------------------------------------------------------- timer

void Session::on_timer_due() {
  if (stage_ != Stage::done) {
    timer_.fire(*this);
  }
}

// ---------------------------------------------------------------- observability

void Session::count_handshake(int status) {
  worker::count_handshake(ctx_.table.metrics_row(ctx_.slot), stats_, status);
}

void Session::count_close(const RelayPeer& s, bool sent, uint16_t code) {
  worker::count_close(ctx_.table.metrics_row(ctx_.slot), stats_, s.is_backend ? shm::Peer::backend : shm::Peer::client,
                      sent, code);
}

// Once per read: what relay_chunk() counted since `before` goes to the row.
void Session::publish_flow(const Side& src, const FlowCount& before) {
  const FlowCount& now = src.is_backend ? stats_.down : stats_.up;
  if (now.bytes == before.bytes && now.messages == before.messages) {
    return;
  }
  const auto flow = static_cast<size_t>(src.is_backend ? shm::Flow::backend_to_client : shm::Flow::client_to_backend);
  shm::MetricsRow& row = ctx_.table.metrics_row(ctx_.slot);
  shm::bump(row.messages[flow], now.messages - before.messages);
  shm::bump(row.bytes[flow], now.bytes - before.bytes);
}

// A connection that sent no complete request and got no answer (a port
// scan, a load balancer's TCP check) is not a session and is not logged.
void Session::end_stats() {
  if (stats_.ended) {
    return;
  }
  stats_.ended = true;
  if (stats_.status == 101) {
    shm::bump(ctx_.table.metrics_row(ctx_.slot).sessions_closed);
  }
  if (stats_.status == 0 || !log::access_log_enabled()) {
    return;
  }
  const std::string backend = pool_ != nullptr && stats_.backend < pool_->backends.size()
                                  ? pool_->backends[stats_.backend].endpoint.to_string()
                                  : std::string();
  log::AccessRecord r = stats_.access_record(uv_now(ctx_.loop));
  r.pool = pool_ != nullptr ? std::string_view(pool_->name) : std::string_view();
  r.backend = backend;
  log::write_access(r);
}

}  // namespace wsgate::worker
