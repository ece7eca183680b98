// idle: open --connections sessions (each checked with one echoed message),
// print {"event":"ready",...} with the time it took, then hold them without
// traffic until SIGTERM/SIGINT/SIGUSR1 or --hold seconds, then close them all
// with close handshakes. Any session lost while held counts as a failure.
#include "tests/bench/runner.h"

namespace wsgate::bench {
namespace {

class IdleRunner final : public Runner {
 public:
  explicit IdleRunner(const Options& o) : Runner(o), phase_timer_(&loop_) {}

 private:
  enum class Phase { kOpening, kHolding, kClosing, kDone };

  double watchdog_seconds() const override { return opts_.timeout + opts_.hold + opts_.close_grace + 30; }

  void begin() override {
    conns_.resize(opts_.connections);
    t_start_ = uv_hrtime();
    phase_timer_.start(opts_.timeout, [this] { ready(); });
    while (launched_ < conns_.size() && launched_ - settled_ < opts_.concurrency) launch_next();
  }

  void launch_next() {
    const std::uint64_t i = launched_++;
    conns_[i] = launch(i);
    if (conns_[i]) ++started_;
    else settle();
  }

  void settle() {
    ++settled_;
    if (phase_ != Phase::kOpening) return;
    if (launched_ < conns_.size()) launch_next();
    else if (settled_ == conns_.size()) ready();
  }

  void ready() {
    if (phase_ != Phase::kOpening) return;
    phase_ = Phase::kHolding;
    t_ready_ = t_last_ ? t_last_ : uv_hrtime();
    for (auto& c : conns_)  // the open timeout: whatever is not established now is dropped
      if (c && c->user == nullptr && !c->closing()) {
        count_failure(Failure::kConnect, "not established within --timeout");
        c->abort();
      }
    emit(JsonLine()
             .str("event", "ready")
             .num("established", established_)
             .num("seconds", seconds(t_start_, t_ready_))
             .num("errors", failures())
             .done());
    phase_timer_.start(opts_.hold, [this] { close_all(); });
  }

  void close_all() {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
    if (phase_ == Phase::kOpening) ready();
    phase_ = Phase::kClosing;
    t_close_start_ = uv_hrtime();
    for (auto& c : conns_)
      if (c) c->close();
    phase_timer_.start(opts_.close_grace, [this] { abort_all(); });
    maybe_done();
  }

  void stop_early() override { close_all(); }

  void abort_all() override {
    for (auto& c : conns_)
      if (c) c->abort();
  }

  void maybe_done() {
    if (phase_ != Phase::kClosing || closed_ < started_) return;
    phase_ = Phase::kDone;
    t_closed_ = uv_hrtime();
    phase_timer_.close();
    finish();
  }

  void on_open(Connection& c) override { c.send_message(opts_.size, shared_.now_ns); }

  void on_echo(Connection& c, std::uint64_t, std::size_t) override {
    if (c.user != nullptr) return;
    c.user = this;  // established
    ++established_;
    t_last_ = shared_.now_ns;
    hist_.record(t_last_ - c.started_ns());
    if (phase_ == Phase::kOpening) settle();
  }

  void on_failure(Connection& c, Failure kind, const std::string& why) override {
    if (phase_ == Phase::kClosing || phase_ == Phase::kDone) {
      ++close_errors_;
      if (close_error_text_.empty()) close_error_text_ = why;
      return;
    }
    if (phase_ == Phase::kHolding && c.user != nullptr) ++dropped_while_held_;
    count_failure(kind, why);
  }

  void on_close_done(Connection&) override {}

  void on_closed(Connection& c) override {
    ++closed_;
    if (phase_ == Phase::kOpening && c.user == nullptr) settle();
    maybe_done();
  }

  void add_result(JsonLine& j) override {
    j.str("mode", "idle")
        .num("connections", static_cast<std::uint64_t>(opts_.connections))
        .num("established", established_)
        .num("establish_seconds", t_ready_ ? seconds(t_start_, t_ready_) : 0.0)
        .num("sessions_per_s",
             t_ready_ > t_start_ ? static_cast<double>(established_) / seconds(t_start_, t_ready_) : 0.0)
        .num("dropped_while_held", dropped_while_held_)
        .num("close_seconds", t_closed_ > t_close_start_ ? seconds(t_close_start_, t_closed_) : 0.0)
        .num("close_errors", close_errors_)
        .str("close_error_first", close_error_text_)
        .raw("latency_us", latency_json(hist_))
        .raw("hist", hist_json(hist_));
  }

  Timer phase_timer_;
  Phase phase_ = Phase::kOpening;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::uint64_t launched_ = 0, started_ = 0, settled_ = 0, established_ = 0, closed_ = 0;
  std::uint64_t dropped_while_held_ = 0, close_errors_ = 0;
  std::string close_error_text_;
  std::uint64_t t_start_ = 0, t_last_ = 0, t_ready_ = 0, t_close_start_ = 0, t_closed_ = 0;
  Histogram hist_;
};

}  // namespace

std::unique_ptr<Runner> make_idle_runner(const Options& o) { return std::make_unique<IdleRunner>(o); }

}  // namespace wsgate::bench
