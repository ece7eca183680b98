#include "worker/proxy/dial.h"

#include <algorithm>

#include "worker/log/log.h"
#include "worker/net/random_bytes.h"
#include "worker/proxy/routing.h"
#include "worker/ws/ws_key.h"

namespace wsgate::worker {

namespace {
int64_t ms(conf::Duration d) { return d.count(); }
}  // namespace

Dial::Dial(WorkerContext& ctx, DialHost& host, const conf::Pool& pool, PoolRuntime& rt, const ClientRequest& request,
           const std::string& client_ip)
    : ctx_(ctx),
      host_(host),
      pool_(pool),
      rt_(rt),
      request_(request),
      client_ip_(client_ip),
      tried_(pool.backends.size(), false) {}

std::optional<size_t> Dial::pick() const {
  int64_t now = shm::monotonic_ms();
  std::vector<Candidate> c(rt_.backend_ids.size());
  for (size_t i = 0; i < c.size(); ++i) {
    uint32_t id = rt_.backend_ids[i];
    c[i] = Candidate{ctx_.table.sessions(id), effective_weight(i, now), !tried_[i] && ctx_.table.available(id, now)};
  }
  return pool_.balance == conf::Balance::round_robin ? pick_round_robin(c, rt_.rr_scores)
                                                     : pick_least_conn(c, rt_.cursor);
}

// Weights are scaled by 100 so slow_start can ramp a backend that just came
// back from 1% to its full weight without flooding it (storm control).
uint32_t Dial::effective_weight(size_t i, int64_t now) const {
  uint64_t full = uint64_t{pool_.backends[i].weight} * 100;
  int64_t ramp = ms(pool_.slow_start);
  int64_t since = ctx_.table.backend(rt_.backend_ids[i]).up_since_ms.load(std::memory_order_relaxed);
  if (ramp <= 0 || since <= 0 || now - since >= ramp) {
    return static_cast<uint32_t>(full);
  }
  return static_cast<uint32_t>(std::max<uint64_t>(1, full * static_cast<uint64_t>(now - since) / ramp));
}

void Dial::next() {
  std::optional<size_t> pick;
  if (attempts_ <= pool_.retries) {
    pick = this->pick();
  }
  if (!pick) {
    host_.on_exhausted();
    return;
  }
  tried_[*pick] = true;
  ++attempts_;
  current_ = *pick;
  host_.count_backend(*pick);
  dial(*pick);
}

HttpError Dial::no_backend_error() const {
  if (attempts_ > 0) {
    return HttpError{
        502,
        "no backend of pool " + pool_.name + " accepted the upgrade (" + std::to_string(attempts_) + " tried)",
        {}};
  }
  int64_t now = shm::monotonic_ms(), soonest = 0;
  for (uint32_t id : rt_.backend_ids) {
    int64_t d = ctx_.table.down_for_ms(id, now);
    soonest = soonest == 0 ? d : std::min(soonest, d);
  }
  std::string retry = std::to_string(std::max<int64_t>(1, (soonest + 999) / 1000));
  return HttpError{503, "no healthy backend in pool " + pool_.name, {{"Retry-After", retry}}};
}

void Dial::dial(size_t i) {
  upgrading_ = false;
  conn_ = &host_.new_backend_conn();
  int r = conn_->init();
  if (r == 0) {
    r = connect_.start(conn_->tcp(), reinterpret_cast<const sockaddr*>(&rt_.addresses[i]), *this);
    if (r == 0) {
      // Reading from now on registers the socket once for both directions,
      // where starting it after the connect costs two more epoll_ctl() calls.
      // libuv reports the connect first; a failed one closes the socket.
      // (A refusal here is harmless: on_connect_done() starts reading again.)
      (void)conn_->start_reading();
    }
  }
  if (r != 0) {
    failed("connect() failed (" + log::uv_error_text(r) + ")");
    return;
  }
  host_.arm_dial_timer(pool_.connect_timeout);
}

void Dial::on_connect_done(int status) {
  if (status != 0) {
    failed("connect() failed (" + log::uv_error_text(status) + ")");
    return;
  }
  uv_tcp_nodelay(conn_->tcp(), 1);
  upgrading_ = true;
  uint8_t key_bytes[16];
  fill_random(key_bytes, sizeof key_bytes);  // pooled: no getrandom() per session
  key_ = ws_key_from_bytes(key_bytes);
  received_.clear();
  response_ = std::make_unique<ResponseReader>();
  conn_->append(build_upstream_request(request_, client_ip_, key_));
  conn_->flush();
  int r = conn_->start_reading();
  if (r != 0) {
    failed("read_start() failed (" + log::uv_error_text(r) + ")");
    return;
  }
  host_.arm_dial_timer(pool_.connect_timeout);
}

void Dial::on_timeout() {
  failed(upgrading_ ? "no answer to the upgrade request within " + std::to_string(ms(pool_.connect_timeout)) + " ms"
                    : "connect() timed out after " + std::to_string(ms(pool_.connect_timeout)) + " ms");
}

void Dial::on_bytes(const uint8_t* data, size_t n) {
  received_.append(reinterpret_cast<const char*>(data), n);
  switch (response_->parse(received_)) {
    case ResponseReader::Status::need_more: return;
    case ResponseReader::Status::error: failed("invalid answer to the upgrade: " + response_->error()); return;
    case ResponseReader::Status::done: judge(); return;
  }
}

void Dial::on_eof() {
  if (response_->on_eof() == ResponseReader::Status::done) {
    judge();
  } else {
    failed("closed the connection before answering the upgrade");
  }
}

void Dial::on_failure(const std::string& why) { failed(why); }

void Dial::judge() {
  UpstreamVerdict v = response_->judge(request_, key_);
  uint32_t id = rt_.backend_ids[current_];
  switch (v.kind) {
    case UpstreamVerdict::Kind::upgraded:
      if (required_protocol_ != nullptr && v.protocol != *required_protocol_) {
        failed("chose subprotocol \"" + v.protocol + "\" instead of \"" + *required_protocol_ + "\"");
        return;
      }
      ctx_.table.record_success(id);
      host_.on_upgraded(v.protocol, std::string_view(received_).substr(response_->consumed()));
      return;
    case UpstreamVerdict::Kind::pass_through:
      if (v.status >= 500) {
        last_5xx_ = std::move(v.client_response);
        failed("answered the upgrade with " + std::to_string(v.status));
        return;
      }
      // The backend's own refusal (403, 426, ...) is its answer to give (B1).
      ctx_.table.record_success(id);
      host_.on_refused(v.client_response, v.status);
      return;
    case UpstreamVerdict::Kind::bad_gateway: failed("invalid answer to the upgrade: " + v.why); return;
  }
}

std::string Dial::label() const { return pool_.name + "/" + pool_.backends[current_].endpoint.to_string(); }

// The attempt's connect request no longer calls back, and its connection is
// closed now but freed with the session (this may run inside its callback).
void Dial::failed(const std::string& why) {
  LOG_WARN("%s while upgrading to backend \"%s\" (attempt %u of %u), client %s, path %s", why.c_str(), label().c_str(),
           attempts_, pool_.retries + 1, client_ip_.c_str(),
           request_.path.c_str());  // not the query: it may carry an auth key
  ctx_.table.record_failure(rt_.backend_ids[current_], shm::monotonic_ms(), ms(pool_.fail_timeout), why);
  host_.release_backend();
  connect_.cancel();
  host_.drop_backend_conn();
  response_.reset();
  next();
}

}  // namespace wsgate::worker
