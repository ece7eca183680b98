// subscribe: open C subscriber connections to a feed (wsgate-feed-source,
// straight or through a proxy), at most --concurrency handshakes in flight and
// --connect-rate connects per second; a subscriber counts as subscribed when
// its first message arrives. Once every one is subscribed (or --timeout
// passed; the rest count as failures and are dropped), optionally wait for
// SIGUSR2 (--wait-go: several client processes start measuring together),
// warm up, then measure for --duration: deliveries/s, sequence gaps and
// late (duplicate or out-of-order) messages per subscriber, and the latency
// of every message from the source's send time (its "t", CLOCK_MONOTONIC) to
// the start of the read that brought it here (uv_hrtime, CLOCK_MONOTONIC too).
// Sequence accounting runs from each subscriber's first message; what it saw
// before the measured window is reported apart.
#include <algorithm>
#include <csignal>
#include <map>

#include "tests/bench/feed.h"
#include "tests/bench/runner.h"

namespace wsgate::bench {
namespace {

class SubscribeRunner final : public Runner {
 public:
  explicit SubscribeRunner(const Options& o)
      : Runner(o), phase_timer_(&loop_), pace_timer_(&loop_), grace_timer_(&loop_), go_(new uv_signal_t) {
    uv_signal_init(&loop_, go_);
    go_->data = this;
    // Watched from the start: the go may come the moment "subscribed" is out,
    // and SIGUSR2's default action would end the process.
    if (o.wait_go > 0) uv_signal_start(go_, &SubscribeRunner::on_go, SIGUSR2);
  }
  ~SubscribeRunner() override { close_go(); }

 private:
  enum class Phase { kOpening, kWaitGo, kWarmup, kMeasuring, kClosing, kDone };
  struct Sub {
    std::unique_ptr<Connection> conn;
    SeqTracker seq;
    std::uint64_t measured = 0;  // messages in the measured window
    bool opened = false;
    bool subscribed = false;
  };

  double watchdog_seconds() const override {
    return opts_.timeout + opts_.wait_go + opts_.warmup + opts_.duration + opts_.close_grace + 30;
  }

  void begin() override {
    subs_.resize(opts_.connections);
    t_open_start_ = uv_hrtime();
    phase_timer_.start(opts_.timeout, [this] { open_timed_out(); });
    launch_more();
  }

  // Starts connects while fewer than --concurrency handshakes are in flight
  // and the --connect-rate budget allows; re-arms the pacing timer otherwise.
  void launch_more() {
    if (phase_ != Phase::kOpening) return;
    while (launched_ < subs_.size() && launched_ - handshaken_ < opts_.concurrency) {
      if (opts_.connect_rate > 0) {
        const double elapsed = seconds(t_open_start_, uv_hrtime());
        const double allowed = elapsed * opts_.connect_rate + 1;
        if (static_cast<double>(launched_) >= allowed) {
          const double wait = (static_cast<double>(launched_) + 1 - allowed) / opts_.connect_rate;
          pace_timer_.start(std::max(wait, 0.001), [this] { launch_more(); });
          return;
        }
      }
      const std::uint64_t i = launched_++;
      Sub& s = subs_[i];
      s.conn = std::make_unique<Connection>(shared_, *this, i);
      s.conn->user = &s;
      s.conn->set_subscriber();
      const Endpoint& to = opts_.targets[i % opts_.targets.size()];
      std::optional<sockaddr_in> from;
      if (!opts_.sources.empty()) from = opts_.sources[i % opts_.sources.size()];
      const std::string err = s.conn->start(to, from);
      if (!err.empty()) {  // no socket: no callbacks will come
        count_failure(Failure::kConnect, err);
        ++connect_failures_;
        s.conn.reset();
        ++handshaken_;
        ++unsubscribed_done_;
        continue;
      }
      ++started_;
    }
    maybe_subscribed();
  }

  void maybe_subscribed() {
    if (phase_ == Phase::kOpening && launched_ == subs_.size() && subscribed_ + unsubscribed_done_ == subs_.size())
      subscribed_all();
  }

  void open_timed_out() {
    if (phase_ != Phase::kOpening) return;
    launched_ = subs_.size();  // launch no more
    for (auto& s : subs_)
      if (s.conn && !s.subscribed && !s.conn->closing()) {
        count_failure(Failure::kConnect, s.opened ? "no message within --timeout" : "not open within --timeout");
        s.conn->abort();
      }
    subscribed_all();
  }

  void subscribed_all() {
    if (phase_ != Phase::kOpening) return;
    phase_timer_.stop();
    pace_timer_.stop();
    t_subscribed_ = uv_hrtime();
    emit(JsonLine()
             .str("event", "subscribed")
             .num("connections", static_cast<std::uint64_t>(opts_.connections))
             .num("opened", opened_)
             .num("subscribed", subscribed_)
             .num("seconds", seconds(t_open_start_, t_subscribed_))
             .done());
    if (subscribed_ == 0) return close_all();
    if (opts_.wait_go > 0 && !go_early_) {
      phase_ = Phase::kWaitGo;
      phase_timer_.start(opts_.wait_go, [this] {
        go_timed_out_ = true;
        start_warmup();
      });
    } else {
      start_warmup();
    }
  }

  static void on_go(uv_signal_t* s, int) {
    auto* self = static_cast<SubscribeRunner*>(s->data);
    if (self->phase_ == Phase::kOpening) self->go_early_ = true;  // acted on once subscribed
    else self->start_warmup();
  }

  void start_warmup() {
    if (phase_ != Phase::kOpening && phase_ != Phase::kWaitGo) return;
    phase_ = Phase::kWarmup;
    if (opts_.warmup > 0) phase_timer_.start(opts_.warmup, [this] { start_measuring(); });
    else start_measuring();
  }

  void start_measuring() {
    if (phase_ != Phase::kWarmup) return;
    phase_ = Phase::kMeasuring;
    hist_.reset();
    cpu_start_ = cpu_seconds();
    t_measure_start_ = uv_hrtime();
    emit(R"({"event":"measure_start"})");
    phase_timer_.start(opts_.duration, [this] { stop_measuring(); });
  }

  void stop_measuring() {
    if (phase_ == Phase::kMeasuring) {
      t_measure_end_ = uv_hrtime();
      cpu_used_ = cpu_seconds() - cpu_start_;
      for (const auto& s : subs_) {
        if (!s.subscribed || !s.conn || s.conn->closing()) continue;
        if (s.measured == 0) ++silent_;
        max_lag_ = std::max(max_lag_, max_seq_ - std::min(max_seq_, s.seq.last()));
      }
      emit(R"({"event":"measure_end"})");
    }
    close_all();
  }

  void close_all() {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
    phase_ = Phase::kClosing;
    phase_timer_.stop();
    pace_timer_.stop();
    for (auto& s : subs_)
      if (s.conn) s.conn->close();
    grace_timer_.start(opts_.close_grace, [this] { abort_all(); });
    maybe_done();
  }

  void stop_early() override {
    if (phase_ == Phase::kOpening) open_timed_out();
    if (phase_ == Phase::kWaitGo) start_warmup();
    if (phase_ == Phase::kWarmup) start_measuring();
    stop_measuring();
  }

  void abort_all() override {
    if (phase_ != Phase::kDone) phase_ = Phase::kClosing;
    for (auto& s : subs_)
      if (s.conn) s.conn->abort();
    maybe_done();
  }

  void maybe_done() {
    if (phase_ != Phase::kClosing || closed_ < started_) return;
    phase_ = Phase::kDone;
    phase_timer_.close();
    pace_timer_.close();
    grace_timer_.close();
    close_go();
    finish();
  }

  void close_go() {
    if (!go_) return;
    uv_close(reinterpret_cast<uv_handle_t*>(go_), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
    go_ = nullptr;
  }

  // ConnectionHandler
  void on_open(Connection& c) override {
    static_cast<Sub*>(c.user)->opened = true;
    ++opened_;
    ++handshaken_;
    launch_more();
  }

  void on_echo(Connection&, std::uint64_t, std::size_t) override {}

  void on_message(Connection& c, std::uint8_t, std::span<const std::uint8_t> payload) override {
    Sub& s = *static_cast<Sub*>(c.user);
    const auto f = parse_feed_fields({reinterpret_cast<const char*>(payload.data()), payload.size()});
    if (!f) {
      ++bad_messages_;
      return;
    }
    const SeqTracker::Outcome o = s.seq.observe(f->seq);
    max_seq_ = std::max(max_seq_, f->seq);
    if (phase_ == Phase::kMeasuring) {
      measured_.count(o);
      ++s.measured;
      const std::uint64_t now = shared_.now_ns;
      hist_.record(now > f->t_ns ? now - f->t_ns : 0);
    } else if (phase_ < Phase::kMeasuring) {
      before_.count(o);
    }
    if (!s.subscribed) {
      s.subscribed = true;
      ++subscribed_;
      maybe_subscribed();
    }
  }

  void on_server_close(Connection&, int code) override {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
    ++closes_[code];
  }

  void on_failure(Connection& c, Failure kind, const std::string& why) override {
    const Sub& s = *static_cast<Sub*>(c.user);
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) {
      ++close_errors_;
      if (close_error_text_.empty()) close_error_text_ = why;
      return;
    }
    if (!s.opened) ++connect_failures_;
    if (s.subscribed) ++lost_;
    count_failure(kind, why);
  }

  void on_close_done(Connection&) override {}

  void on_closed(Connection& c) override {
    const Sub& s = *static_cast<Sub*>(c.user);
    ++closed_;
    if (!s.opened) ++handshaken_;
    if (!s.subscribed) ++unsubscribed_done_;
    if (phase_ == Phase::kOpening) launch_more();
    maybe_done();
  }

  static std::string counts_json(const SeqCounts& c) {
    return JsonLine()
        .num("messages", c.messages)
        .num("gaps", c.missing)
        .num("gap_events", c.gap_events)
        .num("late", c.late)
        .done();
  }

  void add_result(JsonLine& j) override {
    const double secs = t_measure_end_ > t_measure_start_ ? seconds(t_measure_start_, t_measure_end_) : 0;
    const double rate = secs > 0 ? static_cast<double>(measured_.messages) / secs : 0.0;
    std::string closes = "{";
    for (const auto& [code, n] : closes_) {
      if (closes.size() > 1) closes += ",";
      closes += JsonLine::quote(code < 0 ? "eof" : std::to_string(code)) + ":" + std::to_string(n);
    }
    closes += "}";
    j.str("mode", "subscribe")
        .num("connections", static_cast<std::uint64_t>(opts_.connections))
        .num("opened", opened_)
        .num("subscribed", subscribed_)
        .num("subscribe_seconds", t_subscribed_ ? seconds(t_open_start_, t_subscribed_) : 0.0)
        .num("connect_failures", connect_failures_)
        .num("seconds", secs)
        .num("messages", measured_.messages)
        .num("msgs_per_s", rate)
        .num("msgs_per_s_per_subscriber", subscribed_ ? rate / static_cast<double>(subscribed_) : 0.0)
        .num("gaps", measured_.missing)
        .num("gap_events", measured_.gap_events)
        .num("late", measured_.late)
        .num("silent", silent_)
        .num("max_lag", max_lag_)
        .num("lost", lost_)
        .num("bad_messages", bad_messages_)
        .raw("before_measure", counts_json(before_))
        .raw("closes_received", closes)
        .num("go_timed_out", static_cast<std::uint64_t>(go_timed_out_))
        .num("client_cpu_percent", secs > 0 ? 100.0 * cpu_used_ / secs : 0.0)
        .raw("latency_us", latency_json(hist_))
        .num("close_errors", close_errors_)
        .str("close_error_first", close_error_text_)
        .raw("hist", hist_json(hist_));
  }

  Timer phase_timer_;
  Timer pace_timer_;
  Timer grace_timer_;
  uv_signal_t* go_;
  Phase phase_ = Phase::kOpening;
  std::vector<Sub> subs_;
  std::uint64_t launched_ = 0, started_ = 0, handshaken_ = 0, opened_ = 0, subscribed_ = 0;
  std::uint64_t unsubscribed_done_ = 0;  // closed or never started without a message
  std::uint64_t closed_ = 0, connect_failures_ = 0, lost_ = 0, close_errors_ = 0, bad_messages_ = 0;
  std::uint64_t silent_ = 0, max_lag_ = 0, max_seq_ = 0;
  bool go_timed_out_ = false;
  bool go_early_ = false;
  SeqCounts measured_, before_;
  std::map<int, std::uint64_t> closes_;
  std::string close_error_text_;
  std::uint64_t t_open_start_ = 0, t_subscribed_ = 0, t_measure_start_ = 0, t_measure_end_ = 0;
  double cpu_start_ = 0, cpu_used_ = 0;
  Histogram hist_;
};

}  // namespace

std::unique_ptr<Runner> make_subscribe_runner(const Options& o) { return std::make_unique<SubscribeRunner>(o); }

}  // namespace wsgate::bench
