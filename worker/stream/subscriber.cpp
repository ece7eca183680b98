#include "worker/stream/subscriber.h"

#include <algorithm>
#include <cstring>

#include "worker/conn/keepalive_cycle.h"
#include "worker/conn/rule_limits.h"
#include "worker/log/log.h"
#include "worker/stream/stream_auth.h"

namespace wsgate::worker {

namespace {
// The key message is small; anything longer is refused, not buffered.
constexpr size_t kMaxKeyMessage = 16 * 1024;

FrameRef own(std::string&& bytes) { return std::make_shared<const std::string>(std::move(bytes)); }
}  // namespace

Subscriber::Subscriber(WorkerContext& ctx, StreamHub& hub, ConnectionHost& host, std::unique_ptr<TcpConn> conn,
                       SubscriberStart start)
    : ctx_(ctx),
      hub_(hub),
      host_(host),
      conn_(std::move(conn)),
      start_(std::move(start)),
      stream_(start_.live->config->streams[start_.route->stream_index]),
      auth_(start_.route->auth_index ? &ctx.auths[*start_.route->auth_index] : nullptr),
      queue_(conn_->stream(), stream_.subscriber_queue, &Subscriber::on_queue_event, this),
      codec_(*this, false, ctx.client_frames),
      rules_(rule_limits(*start_.live->config, *start_.route, true)) {
  conn_->set_owner(*this);
  ctx_.table.add_connection(ctx_.slot, 1);
  stats_.accepted_ms = start_.accepted_ms;
  stats_.status = 101;
  if (log::access_log_enabled()) {
    stats_.path = start_.channel_path.empty() ? start_.route->path : start_.channel_path;
  }
  (void)timer_.init(ctx_.loop, *this);  // checked in start()
}

Subscriber::~Subscriber() {
  end_stats();
  leave_channel();
  ctx_.table.add_connection(ctx_.slot, -1);
}

void Subscriber::leave_channel() {
  if (attached_) {
    hub_.detach(*this, *start_.joined);
  } else if (start_.joined) {
    hub_.unreserve(*start_.joined);
  }
  attached_ = false;
  start_.joined.reset();
}

void Subscriber::start(const std::string& response_101, std::string_view early) {
  if (!timer_.ready()) {
    LOG_WARN("uv_timer_init() failed for subscriber %s; dropping it", start_.client_ip.c_str());
    state_ = State::done;
    finish();
    return;
  }
  queue_.push(own(std::string(response_101)), true);
  if (auth_ != nullptr && auth_->from == conf::AuthFrom::first_message) {
    awaiting_key_ = true;
    timer_.arm(auth_->timeout, [](Subscriber& s) {
      LOG_INFO("client %s sent no key within %lld ms on %s: closing with 1008", s.start_.client_ip.c_str(),
               static_cast<long long>(s.auth_->timeout.count()), s.start_.route->path.c_str());
      s.close_with(close_code::policy, "authentication timed out");
    });
  } else {
    begin_delivery();
  }
  keepalive_.heard(uv_now(ctx_.loop));
  KeepaliveCycle<Subscriber>::arm(*this);
  if (!flush_or_finish()) {
    return;
  }
  if (!early.empty()) {
    on_conn_read(*conn_, reinterpret_cast<const uint8_t*>(early.data()), early.size());
  }
  if (conn_ && state_ != State::done && conn_->start_reading() != 0) {
    state_ = State::done;
    finish();
  }
}

bool Subscriber::flush_or_finish() {
  if (!conn_) {
    return false;
  }
  if (queue_.flush() != 0) {
    state_ = State::done;
    finish();
    return false;
  }
  if (close_sent_ && close_received_) {
    finish();
  }
  return conn_ != nullptr;
}

void Subscriber::begin_delivery() {
  attached_ = true;
  if (!hub_.attach(*this, *start_.joined)) {
    attached_ = false;  // it gave up during the history; the hub uncounted it
    start_.joined.reset();
  }
}

// ---------------------------------------------------------------- from the stream

bool Subscriber::queue_frame(const FrameRef& frame) {
  if (queue_.push(frame)) {
    return true;
  }
  // Full: first give the socket what it will take now (a batch can be larger
  // than the whole queue), and only then is the subscriber too slow.
  if (queue_.flush() != 0) {
    return true;  // the write error ends it; flush_or_finish() says so next
  }
  if (queue_.push(frame)) {
    return true;
  }
  if (stream_.slow_subscriber == conf::SlowPolicy::close) {
    return false;
  }
  dropped_ += queue_.drop_oldest(frame->size());
  if (!queue_.push(frame)) {
    ++dropped_;  // larger than what could be freed: this one is the oldest to go
  }
  return true;
}

bool Subscriber::on_stream_frames(const FrameRef* frames, size_t n) {
  if (state_ != State::open) {
    attached_ = false;
    start_.joined.reset();
    return false;
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    bytes += frames[i]->size();
  }
  stats_.down.messages += n;
  stats_.down.bytes += bytes;
  shm::MetricsRow& row = ctx_.table.metrics_row(ctx_.slot);
  shm::bump(row.messages[static_cast<size_t>(shm::Flow::stream_to_client)], n);
  shm::bump(row.bytes[static_cast<size_t>(shm::Flow::stream_to_client)], bytes);
  for (size_t i = 0; i < n; ++i) {
    if (!queue_frame(frames[i])) {
      attached_ = false;
      start_.joined.reset();
      LOG_INFO("subscriber %s of stream %s did not keep up (%llu bytes queued): closing with 1008",
               start_.client_ip.c_str(), stream_.name.c_str(), static_cast<unsigned long long>(queue_.queued_bytes()));
      // Its backlog goes: the close should reach it as soon as it reads at all.
      queue_.drop_oldest(queue_.limit());
      close_with(close_code::policy, "subscriber too slow");
      return false;
    }
  }
  if (queue_.flush() != 0) {
    // Called by the hub: leave its list through the return value, not detach().
    attached_ = false;
    start_.joined.reset();
    state_ = State::done;
    finish();
    return false;
  }
  return true;
}

bool Subscriber::on_stream_gap(uint64_t missed) {
  if (state_ == State::open && stream_.slow_subscriber == conf::SlowPolicy::drop_oldest) {
    dropped_ += missed;
    return true;
  }
  attached_ = false;
  start_.joined.reset();
  if (state_ == State::open) {
    close_with(close_code::policy, "fell behind the stream");
  }
  return false;
}

// ---------------------------------------------------------------- from the client

void Subscriber::on_conn_read(TcpConn&, const uint8_t* data, size_t n) {
  if (state_ == State::done) {
    return;
  }
  keepalive_.heard(uv_now(ctx_.loop));  // any bytes at all: the client is there
  codec_.feed(data, n);
  FrameChunk chunk;
  for (;;) {
    FrameCodec::Next r = codec_.next(chunk);
    if (r == FrameCodec::Next::need_more) {
      break;
    }
    if (r == FrameCodec::Next::protocol_error) {
      close_with(close_code::protocol_error, "invalid frame header");
      break;
    }
    if (!on_chunk(chunk)) {
      break;
    }
  }
  codec_.discard_input();
  codec_.release_if_idle();
  flush_or_finish();
}

bool Subscriber::on_chunk(const FrameChunk& chunk) {
  uint16_t code = chunk.starts_frame ? rules_.on_frame_start(chunk.head) : 0;
  if (code == 0) {
    code = rules_.on_payload(chunk.data, chunk.size);
  }
  if (code == 0 && chunk.ends_frame) {
    code = rules_.on_frame_end();
  }
  if (code != 0) {
    LOG_INFO("invalid frame from subscriber %s: closing with %u", start_.client_ip.c_str(), code);
    if (conn_) {
      conn_->stop_reading();  // checklist: the offender is not read again
    }
    close_with(code, "");
    return false;
  }
  if (rules_.current_is_control()) {
    if (chunk.ends_frame) {
      on_control();
      rules_.release_control();
    }
  } else {
    on_message_bytes(chunk);
  }
  return state_ != State::done && !(close_received_ && close_sent_);
}

void Subscriber::on_message_bytes(const FrameChunk& chunk) {
  if (close_received_ || state_ != State::open) {
    return;
  }
  const bool message_ends = chunk.ends_frame && chunk.head.fin;
  stats_.up.bytes += chunk.size;
  stats_.up.messages += message_ends ? 1 : 0;
  if (awaiting_key_) {
    if (first_message_.size() + chunk.size > kMaxKeyMessage) {
      close_with(close_code::policy, "authentication message too large");
      return;
    }
    first_message_.append(reinterpret_cast<const char*>(chunk.data), chunk.size);
    if (message_ends) {
      authenticate();
    }
    return;
  }
  if (stream_.client_messages == conf::ClientMessages::close) {
    close_with(close_code::unsupported, "this stream takes no messages");
    return;
  }
  if (message_ends) {
    ++ctx_.messages_dropped;  // a stream has nowhere to send it
  }
}

void Subscriber::authenticate() {
  awaiting_key_ = false;
  timer_.stop();
  FirstMessageAuth verdict = check_first_message(first_message_, *auth_);
  first_message_.clear();
  first_message_.shrink_to_fit();
  if (verdict != FirstMessageAuth::ok) {
    const char* why = verdict == FirstMessageAuth::not_json   ? "the first message is not a JSON object"
                      : verdict == FirstMessageAuth::no_field ? "the first message has no key field"
                                                              : "the key is not valid";
    LOG_INFO("subscriber %s on %s: %s; closing with 1008", start_.client_ip.c_str(), start_.route->path.c_str(), why);
    close_with(close_code::policy, why);
    return;
  }
  HttpError err;
  start_.joined = hub_.reserve(start_.route->stream_index, start_.channel_path, start_.client_ip, err);
  if (!start_.joined) {
    LOG_INFO("subscriber %s: %s; closing with 1013", start_.client_ip.c_str(), err.why.c_str());
    close_with(close_code::try_later, "no free channel");
    return;
  }
  begin_delivery();
  KeepaliveCycle<Subscriber>::arm(*this);
}

void Subscriber::on_control() {
  std::span<const uint8_t> payload = rules_.control_payload();
  switch (rules_.current_opcode()) {
    case opcode::ping:
      // Only the latest ping needs an answer (RFC 6455 5.5.3): a flood of
      // them from a client that does not read queues no more than the limit.
      send_control(opcode::pong, payload.data(), payload.size(), false);
      break;
    case opcode::close:
      close_received_ = true;
      count_close(false, close_code_of(payload.data(), payload.size()));
      stats_.note_closer(log::Closer::client);
      if (!close_sent_) {
        // Echo its code (and only its code: a reason is the sender's own words).
        send_control(opcode::close, payload.data(), std::min<size_t>(payload.size(), 2), true);
        close_sent_ = true;
        count_close(true, close_code_of(payload.data(), payload.size()));
        leave_channel();
        state_ = State::closing;
      }
      conn_->stop_reading();
      break;         // finished once the echo is written (flush_or_finish)
    default: break;  // pongs answer our pings
  }
}

// ---------------------------------------------------------------- output and closing

void Subscriber::send_control(uint8_t op, const uint8_t* data, size_t n, bool must) {
  control_out_.clear();
  codec_.send_control(op, data, n);
  queue_.push(own(std::move(control_out_)), must);
  control_out_ = std::string();
}

void Subscriber::close_with(uint16_t code, std::string_view reason) {
  if (state_ != State::open) {
    return;
  }
  state_ = State::closing;
  leave_channel();
  awaiting_key_ = false;
  control_out_.clear();
  codec_.send_close(code, reason);
  queue_.push(own(std::move(control_out_)), true);
  control_out_ = std::string();
  close_sent_ = true;
  count_close(true, code);
  stats_.note_closer(log::Closer::wsgate);
  timer_.arm(start_.live->config->limits.close_timeout, [](Subscriber& s) {
    s.state_ = State::done;
    s.finish();
  });
  flush_or_finish();  // the close may be the only thing queued: no write would carry it
}

void Subscriber::shut_down() { close_with(close_code::going_away, "wsgate is shutting down"); }

// A write completed: it emptied the queue (status 0) or failed.
void Subscriber::on_queue_event(void* user, int status) {
  auto* self = static_cast<Subscriber*>(user);
  if (status != 0) {
    if (status != UV_ECONNRESET && status != UV_EPIPE && status != UV_ECANCELED) {
      LOG_INFO("writing to subscriber %s failed (%s)", self->start_.client_ip.c_str(),
               log::uv_error_text(status).c_str());
    }
    self->state_ = State::done;
  }
  self->finish();
}

// Ends the connection when it is over: at once once state_ is done (EOF,
// error, timeout), or gracefully once both closes are exchanged and every
// queued byte is written. Hands itself back to the host for destruction.
void Subscriber::finish() {
  if (!conn_) {
    return;
  }
  if (state_ != State::done && !(close_sent_ && close_received_ && queue_.empty())) {
    return;
  }
  leave_channel();
  state_ = State::done;
  timer_.stop();
  if (dropped_ > 0) {
    LOG_INFO("subscriber %s of stream %s lost %llu messages while connected (slow_subscriber: drop_oldest)",
             start_.client_ip.c_str(), stream_.name.c_str(), static_cast<unsigned long long>(dropped_));
  }
  end_stats();  // logged when it ends, not when it is freed
  conn_->close();
  conn_.reset();
  host_.retire(*this);
}

void Subscriber::on_conn_eof(TcpConn&) {
  stats_.note_closer(log::Closer::client);
  state_ = State::done;
  finish();
}

void Subscriber::on_conn_error(TcpConn&, int uv_status, const char* while_doing) {
  if (uv_status != UV_ECONNRESET && uv_status != UV_EPIPE) {
    LOG_INFO("%s subscriber %s failed (%s)", while_doing, start_.client_ip.c_str(),
             log::uv_error_text(uv_status).c_str());
  }
  stats_.note_closer(log::Closer::client);
  state_ = State::done;
  finish();
}

// ---------------------------------------------------------------- keep-alive

// As for a relaying session (session.cpp): armed lazily, one wake-up per
// quiet subscriber per ping_interval. A busy stream does not count: only
// what the client sends proves it is still there.
bool Subscriber::keepalive_owns_timer() const {
  return start_.route->ping_interval != conf::Duration::zero() && state_ == State::open && !awaiting_key_ && conn_;
}

// Whole frames are queued, so a ping never lands inside one; it goes out
// behind what is queued, and any answer at all will do.
void Subscriber::send_keepalive_ping() {
  std::string payload = keepalive_ping_payload(++ctx_.keepalive_pings);
  send_control(opcode::ping, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), true);
  codec_.release_if_idle();
  KeepaliveCycle<Subscriber>::ping_sent(*this);
  flush_or_finish();
}

// Nothing from the client within pong_timeout of a ping: a close 1001 is
// tried, not waited for, and the connection is closed with whatever is
// still queued; leaving the channel uncounts it.
void Subscriber::drop_half_open() {
  LOG_INFO("subscriber %s sent nothing within pong_timeout (%lld ms) of a ping: closing it as half-open",
           start_.client_ip.c_str(), static_cast<long long>(start_.route->pong_timeout.count()));
  static constexpr uint8_t kBody[] = {0x03, 0xe9, 'p', 'i', 'n', 'g', ' ', 't', 'i', 'm', 'e', 'o', 'u', 't'};
  send_control(opcode::close, kBody, sizeof kBody, true);
  close_sent_ = true;
  count_close(true, close_code::going_away);
  stats_.note_closer(log::Closer::wsgate);
  queue_.flush();
  state_ = State::done;
  finish();
}

// ---------------------------------------------------------------- timer

void Subscriber::on_timer_due() {
  if (conn_) {
    timer_.fire(*this);
  }
}

// ---------------------------------------------------------------- observability

void Subscriber::count_close(bool sent, uint16_t code) {
  worker::count_close(ctx_.table.metrics_row(ctx_.slot), stats_, shm::Peer::client, sent, code);
}

void Subscriber::end_stats() {
  if (stats_.ended) {
    return;
  }
  stats_.ended = true;
  shm::bump(ctx_.table.metrics_row(ctx_.slot).sessions_closed);
  if (!log::access_log_enabled()) {
    return;
  }
  log::AccessRecord r = stats_.access_record(uv_now(ctx_.loop));
  r.client = start_.client;  // the session's copy went with it
  r.stream = stream_.name;
  log::write_access(r);
}

}  // namespace wsgate::worker
