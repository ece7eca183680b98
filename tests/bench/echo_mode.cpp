// echo: open C connections, keep K messages in flight on each (closed loop:
// every verified echo sends the next message), warm up, then measure
// messages/s, payload MB/s and per-message latency for --duration seconds.
#include <algorithm>

#include "tests/bench/runner.h"

namespace wsgate::bench {
namespace {

class EchoRunner final : public Runner {
 public:
  explicit EchoRunner(const Options& o) : Runner(o), phase_timer_(&loop_), grace_timer_(&loop_) {}

 private:
  enum class Phase { kOpening, kWarmup, kMeasuring, kClosing, kDone };

  double watchdog_seconds() const override {
    return opts_.timeout + opts_.warmup + opts_.duration + opts_.close_grace + 30;
  }

  void begin() override {
    conns_.resize(opts_.connections);
    t_open_start_ = uv_hrtime();
    phase_timer_.start(opts_.timeout, [this] { open_timed_out(); });
    while (launched_ < conns_.size() && launched_ - settled_ < opts_.concurrency) launch_next();
  }

  void launch_next() {
    const std::uint64_t i = launched_++;
    conns_[i] = launch(i);
    if (conns_[i]) ++started_;
    else settle();
  }

  // One more connection is open or failed during the opening phase.
  void settle() {
    ++settled_;
    if (phase_ != Phase::kOpening) return;
    if (launched_ < conns_.size()) launch_next();
    else if (settled_ == conns_.size()) start_load();
  }

  void open_timed_out() {
    if (phase_ != Phase::kOpening) return;
    for (auto& c : conns_)
      if (c && !c->open()) c->abort();
    launched_ = conns_.size();
    start_load();
  }

  void start_load() {
    phase_ = Phase::kWarmup;
    phase_timer_.stop();
    const std::uint64_t now = uv_hrtime();
    emit(JsonLine()
             .str("event", "open")
             .num("connections", static_cast<std::uint64_t>(opened_))
             .num("seconds", seconds(t_open_start_, now))
             .done());
    if (opened_ == 0) return close_all();
    for (auto& c : conns_) {
      if (!c || !c->open()) continue;
      for (std::uint32_t k = 0; k < opts_.inflight && sent_ < opts_.max_messages; ++k, ++sent_, ++in_flight_)
        c->send_message(opts_.size, now);
      c->flush();
    }
    if (opts_.warmup > 0) phase_timer_.start(opts_.warmup, [this] { start_measuring(); });
    else start_measuring();
  }

  void start_measuring() {
    if (phase_ != Phase::kWarmup) return;
    phase_ = Phase::kMeasuring;
    hist_.reset();
    messages_ = bytes_ = 0;
    cpu_start_ = cpu_seconds();
    t_measure_start_ = uv_hrtime();
    emit(R"({"event":"measure_start"})");
    phase_timer_.start(opts_.duration, [this] { stop_measuring(); });
  }

  void stop_measuring() {
    if (phase_ == Phase::kMeasuring) {
      t_measure_end_ = uv_hrtime();
      cpu_used_ = cpu_seconds() - cpu_start_;
      emit(R"({"event":"measure_end"})");
    }
    close_all();
  }

  void close_all() {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
    phase_ = Phase::kClosing;
    phase_timer_.stop();
    for (auto& c : conns_)
      if (c) c->close();
    grace_timer_.start(opts_.close_grace, [this] { abort_all(); });
    maybe_done();
  }

  void abort_all() override {
    for (auto& c : conns_)
      if (c) c->abort();
  }

  void stop_early() override {
    if (phase_ == Phase::kOpening) open_timed_out();
    if (phase_ == Phase::kWarmup) start_measuring();
    stop_measuring();
  }

  void maybe_done() {
    // Done when every connection that got a socket has closed.
    if (phase_ != Phase::kClosing || closed_ < started_) return;
    phase_ = Phase::kDone;
    phase_timer_.close();
    grace_timer_.close();
    finish();
  }

  // ConnectionHandler
  void on_open(Connection& c) override {
    c.user = this;  // marks it as having opened
    ++opened_;
    if (phase_ == Phase::kOpening) settle();
  }

  void on_echo(Connection& c, std::uint64_t sent_ns, std::size_t size) override {
    --in_flight_;
    if (phase_ == Phase::kMeasuring) {
      hist_.record(shared_.now_ns - sent_ns);
      ++messages_;
      bytes_ += size;
    }
    if (phase_ != Phase::kWarmup && phase_ != Phase::kMeasuring) return;
    if (sent_ < opts_.max_messages) {
      ++sent_;
      ++in_flight_;
      c.send_message(opts_.size, shared_.now_ns);
    } else if (in_flight_ == 0) {
      stop_measuring();  // the message cap is reached and everything came back
    }
  }

  void on_failure(Connection&, Failure kind, const std::string& why) override {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) {
      ++close_errors_;
      if (close_error_text_.empty()) close_error_text_ = why;
    } else {
      count_failure(kind, why);
    }
  }

  void on_close_done(Connection&) override {}

  void on_closed(Connection& c) override {
    ++closed_;
    if (phase_ == Phase::kOpening && c.user == nullptr) settle();  // failed before opening
    maybe_done();
  }

  void add_result(JsonLine& j) override {
    const double secs = t_measure_end_ > t_measure_start_ ? seconds(t_measure_start_, t_measure_end_) : 0;
    j.str("mode", "echo")
        .num("connections", static_cast<std::uint64_t>(opts_.connections))
        .num("opened", opened_)
        .num("inflight", static_cast<std::uint64_t>(opts_.inflight))
        .num("size", static_cast<std::uint64_t>(opts_.size))
        .num("seconds", secs)
        .num("messages", messages_)
        .num("bytes", bytes_)
        .num("msgs_per_s", secs > 0 ? static_cast<double>(messages_) / secs : 0.0)
        .num("mb_per_s", secs > 0 ? static_cast<double>(bytes_) / secs / 1e6 : 0.0)
        .num("client_cpu_percent", secs > 0 ? 100.0 * cpu_used_ / secs : 0.0)
        .raw("latency_us", latency_json(hist_))
        .num("close_errors", close_errors_)
        .str("close_error_first", close_error_text_)
        .raw("hist", hist_json(hist_));
  }

  Timer phase_timer_;
  Timer grace_timer_;
  Phase phase_ = Phase::kOpening;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::uint64_t launched_ = 0, started_ = 0, settled_ = 0, opened_ = 0, closed_ = 0;
  std::uint64_t sent_ = 0, messages_ = 0, bytes_ = 0, close_errors_ = 0;
  std::uint64_t in_flight_ = 0;  // messages sent and not yet echoed, all connections
  std::string close_error_text_;
  std::uint64_t t_open_start_ = 0, t_measure_start_ = 0, t_measure_end_ = 0;
  double cpu_start_ = 0, cpu_used_ = 0;
  Histogram hist_;
};

}  // namespace

std::unique_ptr<Runner> make_echo_runner(const Options& o) { return std::make_unique<EchoRunner>(o); }

}  // namespace wsgate::bench
