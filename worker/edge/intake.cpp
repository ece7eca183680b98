#include "worker/edge/intake.h"

#include "worker/conn/http_answer.h"
#include "worker/conn/tls_failure_log.h"
#include "worker/log/log.h"
#include "worker/stream/stream_auth.h"

namespace wsgate::worker {

Intake::Intake(WorkerContext& ctx, IntakeHost& host)
    : ctx_(ctx),
      host_(host),
      live_(ctx.live),
      conn_(std::make_unique<TcpConn>(ctx.loop, ctx.buffers, ctx.read_buffer(), *this)) {
  (void)timer_.init(ctx_.loop, *this);  // checked in accept()
}

Intake::~Intake() {
  end_stats();
  if (connection_counted_) {
    ctx_.table.add_connection(ctx_.slot, -1);
  }
}

bool Intake::accept(uv_stream_t* server, std::shared_ptr<TlsListener> tls) {
  if (!timer_.ready() || conn_->init() != 0 || uv_accept(server, conn_->stream()) != 0) {
    return false;
  }
  uv_tcp_nodelay(conn_->tcp(), 1);
  if (tls) {
    SSL_CTX* ctx = tls->default_context();
    if (!conn_->start_tls(ctx, std::move(tls))) {
      LOG_WARN("out of memory for a TLS connection");
      return false;  // nothing was counted yet; the connection closes with this intake
    }
  }
  ctx_.table.add_connection(ctx_.slot, 1);
  connection_counted_ = true;
  reader_ = std::make_unique<RequestReader>(live_->config->limits.max_header);
  client_ip_ = conn_->peer_name(false);
  stats_.accepted_ms = uv_now(ctx_.loop);
  if (log::access_log_enabled()) {
    stats_.client = conn_->peer_name(true);  // gone once the peer closed
  }
  if (!admit_address()) {
    return true;  // refused (503/429): the answer is on its way
  }
  // handshake_timeout covers the TLS handshake and the request.
  timer_.arm(live_->config->limits.handshake_timeout, [](Intake& s) {
    const TlsStream* tls = s.conn_->tls();
    if (tls != nullptr && !tls->established()) {
      s.count_tls(shm::TlsOutcome::timeout);
      s.retire();  // no answer: there is no TLS to send it over
      return;
    }
    s.answer(HttpError{408, "the request was not complete within handshake_timeout", {}});
  });
  int r = conn_->start_reading();
  if (r != 0) {
    LOG_WARN("read_start() failed (%s) on a new client connection", log::uv_error_text(r).c_str());
    retire();
  }
  return true;
}

// limits.*_per_ip, over all workers, before the request is read: a client
// over them costs one early answer, a complete HTTP response; its request
// bytes are read and dropped behind it (worker/conn/http_answer.h).
bool Intake::admit_address() {
  const conf::Limits& lim = live_->config->limits;
  if (lim.max_connections_per_ip == 0 && lim.handshake_rate_per_ip == 0) {
    return true;  // off: not even the peer's address is asked for
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(conn_->tcp(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return true;  // gone already: the read that follows finds out
  }
  IpVerdict v = admit_client_ip(ctx_.shm->ips, ctx_.slot, lim, reinterpret_cast<sockaddr*>(&ss));
  if (v.refusal) {
    answer(*v.refusal);
    return false;
  }
  ip_lease_ = std::move(v.lease);
  return true;
}

// ---------------------------------------------------------------- connection events

void Intake::on_conn_read(TcpConn&, const uint8_t* data, size_t n) {
  if (stage_ != Stage::request) {
    return;  // answering: a refused client's further bytes are not processed (H5)
  }
  received_.append(reinterpret_cast<const char*>(data), n);
  switch (reader_->parse(received_)) {
    case RequestReader::Status::need_more: return;
    case RequestReader::Status::error: answer(reader_->error()); return;
    case RequestReader::Status::done:
      // The client stays registered for reading: stopping and restarting it
      // costs libuv three epoll_ctl() calls per session. Clients wait for
      // the 101, so it rarely fires; frames sent right behind the request
      // (H9) are held by whoever serves the client next.
      note_tls_established();
      on_request(reader_->request());
      return;
  }
}

void Intake::on_conn_eof(TcpConn&) {
  const TlsStream* tls = conn_->tls();
  if (tls != nullptr && tls->started() && !tls->established()) {
    count_tls(shm::TlsOutcome::other);  // left in the middle of the TLS handshake
  }
  stats_.note_closer(log::Closer::client);
  retire();  // a client that leaves before or after its error answer
}

void Intake::on_conn_error(TcpConn& c, int uv_status, const char* while_doing) {
  const TlsStream* tls = conn_->tls();
  if (tls != nullptr && tls->failure() != shm::TlsOutcome::ok) {
    count_tls(tls->failure());
    log_tls_failure(ctx_, *conn_, while_doing);
    stats_.note_closer(log::Closer::client);
    retire();
    return;
  }
  if (uv_status != UV_ECONNRESET && uv_status != UV_EPIPE) {
    LOG_WARN("%s client failed (%s), client %s", while_doing, log::uv_error_text(uv_status).c_str(),
             conn_->peer_name(true).c_str());
  }
  on_conn_eof(c);
}

// ---------------------------------------------------------------- the request

const conf::Route* Intake::find_route(const std::string& path) const {
  const conf::Route* best = nullptr;
  for (const conf::Route& r : live_->config->routes) {
    if (path.compare(0, r.path.size(), r.path) == 0 && (best == nullptr || r.path.size() > best->path.size())) {
      best = &r;
    }
  }
  return best;
}

void Intake::on_request(const ClientRequest& req) {
  if (log::access_log_enabled()) {
    stats_.path = req.path;
  }
  route_ = find_route(req.path);
  if (route_ == nullptr) {
    answer(HttpError{404, "no route for " + req.path, {}});
    return;
  }
  if (!origin_allowed(route_->origins, req.origin)) {
    answer(HttpError{403, "origin " + req.origin + " is not allowed on " + route_->path, {}});
    return;
  }
  if (ctx_.table.slot(ctx_.slot).connections.load(std::memory_order_relaxed) > live_->config->limits.max_connections) {
    answer(HttpError{503, "too many connections (max_connections)", {{"Retry-After", "1"}}});
    return;
  }
  if (route_->auth_index) {
    const conf::Auth& auth = ctx_.auths[*route_->auth_index];
    std::string why;
    if (!handshake_auth_ok(auth, req, why)) {
      LOG_INFO("answered 401 to client %s on %s: %s", client_ip_.c_str(), route_->path.c_str(), why.c_str());
      HttpError e{401, "a valid key is required", {}};
      if (auth.from == conf::AuthFrom::header) {
        e.headers.emplace_back("WWW-Authenticate", "Bearer");
      }
      answer(e);
      return;
    }
  }
  if (route_->is_stream()) {
    start_stream(req);
    return;
  }
  pool_ = &live_->config->pools[route_->pool_index];
  if (!ctx_.table.admit_handshake(static_cast<uint32_t>(route_->pool_index), pool_->max_handshake_rate,
                                  shm::monotonic_us())) {
    // Storm control: new sessions beyond the pool's rate wait; live ones are untouched.
    answer(HttpError{503, "pool " + pool_->name + " is over max_handshake_rate", {{"Retry-After", "1"}}});
    return;
  }
  start_session();
}

// ---------------------------------------------------------------- hand-off

// The connection, its count and its lease go with the client; so does the
// access-log line, which the session writes.
void Intake::start_session() {
  SessionStart start;
  start.live = live_;
  start.route = route_;
  start.header_size = reader_->header_size();
  start.received = std::move(received_);
  start.reader = std::move(reader_);
  start.client_ip = std::move(client_ip_);
  start.ip_lease = std::move(ip_lease_);
  start.stats = std::move(stats_);
  stats_.ended = true;
  connection_counted_ = false;
  timer_.stop();
  stage_ = Stage::done;
  start.conn = std::move(conn_);
  host_.adopt_session(std::move(start));
  host_.retire(*this);
}

// A stream route: wsgate answers the upgrade itself and the connection
// becomes a subscriber. Its channel is counted before the 101, so a full
// channel table is a 503 the client can retry, not a close after upgrading.
void Intake::start_stream(const ClientRequest& req) {
  const conf::Stream& stream = live_->config->streams[route_->stream_index];
  if (ctx_.hub == nullptr) {
    answer(HttpError{503, "streams are not running in this worker", {{"Retry-After", "1"}}});
    return;
  }
  std::string channel = stream.channels == conf::ChannelMode::per_path ? req.path : "";
  if (channel.size() >= shm::kChannelPathLen) {
    answer(
        HttpError{414, "a stream channel path is at most " + std::to_string(shm::kChannelPathLen - 1) + " bytes", {}});
    return;
  }
  SubscriberStart start;
  start.route = route_;
  start.live = live_;
  start.channel_path = channel;
  start.client_ip = client_ip_;
  start.ip_lease = std::move(ip_lease_);  // the subscriber holds the connection now
  const bool key_first = route_->auth_index && ctx_.auths[*route_->auth_index].from == conf::AuthFrom::first_message;
  if (!key_first) {
    HttpError err;
    start.joined = ctx_.hub->reserve(route_->stream_index, channel, client_ip_, err);
    if (!start.joined) {
      answer(err);
      return;
    }
  }
  std::string early = received_.substr(reader_->header_size());
  std::string response = format_switching_protocols(req, "");
  count_handshake(101);
  stats_.ended = true;  // the subscriber logs itself
  start.accepted_ms = stats_.accepted_ms;
  start.client = std::move(stats_.client);
  timer_.stop();
  stage_ = Stage::done;
  host_.adopt_subscriber(std::move(conn_), std::move(start), response, std::move(early));
  host_.retire(*this);
}

// ---------------------------------------------------------------- refusals and the end

void Intake::answer(const HttpError& e) {
  count_handshake(e.status);
  stats_.note_closer(log::Closer::wsgate);
  stage_ = Stage::answering;
  send_http_error(*conn_, e, client_ip_);
  if (stage_ == Stage::answering) {  // writing may have failed, and that ended it
    timer_.arm(kAnswerLinger, [](Intake& s) { s.retire(); });
  }
}

void Intake::shut_down() {
  if (stage_ == Stage::request) {
    answer(HttpError{503, "wsgate is shutting down", {{"Retry-After", "1"}}});
  }
}

void Intake::retire() {
  if (stage_ == Stage::done) {
    return;
  }
  end_stats();  // logged when it ends, not when it is freed
  stage_ = Stage::done;
  timer_.stop();
  conn_->close();
  host_.retire(*this);
}

void Intake::on_timer_due() {
  if (stage_ != Stage::done) {
    timer_.fire(*this);
  }
}

void Intake::count_tls(shm::TlsOutcome outcome) {
  shm::bump(ctx_.table.metrics_row(ctx_.slot).tls_handshakes[static_cast<size_t>(outcome)]);
}

// What the backend, the auth check and the access log learn of the TLS
// session, once its first request arrived (the handshake is over by then).
void Intake::note_tls_established() {
  const TlsStream* tls = conn_->tls();
  if (tls == nullptr || !tls->established()) {
    return;
  }
  ClientRequest& req = reader_->request();
  req.tls.on = true;
  tls->peer_certificate(&req.tls.cert_subject, &req.tls.cert_sha256);
  stats_.tls_version = tls->version();
  stats_.tls_cipher = tls->cipher();
  stats_.tls_resumed = tls->resumed();
  count_tls(tls->resumed() ? shm::TlsOutcome::resumed : shm::TlsOutcome::ok);
  const bool v13 = std::string_view(tls->version()) == "TLSv1.3";
  shm::bump(ctx_.table.metrics_row(ctx_.slot).tls_versions[v13 ? 1 : 0]);
}

void Intake::count_handshake(int status) { worker::count_handshake(ctx_.table.metrics_row(ctx_.slot), stats_, status); }

// A connection that sent no complete request and got no answer (a port
// scan, a load balancer's TCP check) is not a session and is not logged.
void Intake::end_stats() {
  if (stats_.ended) {
    return;
  }
  stats_.ended = true;
  if (stats_.status == 0 || !log::access_log_enabled()) {
    return;
  }
  log::AccessRecord r = stats_.access_record(uv_now(ctx_.loop));
  r.pool = pool_ != nullptr ? std::string_view(pool_->name) : std::string_view();
  log::write_access(r);
}

}  // namespace wsgate::worker
