// handshake: run --sessions sessions, at most --concurrency at a time, each
// one connect -> upgrade (101 and accept checked) -> one echoed message
// (verified) -> close handshake -> TCP close. Reports sessions/s and the
// latency of whole sessions (connect start to close reply).
#include <unordered_set>

#include "tests/bench/runner.h"

namespace wsgate::bench {
namespace {

class HandshakeRunner final : public Runner {
 public:
  explicit HandshakeRunner(const Options& o) : Runner(o), deadline_(&loop_) {}

 private:
  double watchdog_seconds() const override { return opts_.duration + opts_.close_grace + 30; }

  void begin() override {
    t_start_ = uv_hrtime();
    cpu_start_ = cpu_seconds();
    emit(R"({"event":"measure_start"})");
    deadline_.start(opts_.duration, [this] { stop_early(); });
    fill();
    maybe_done();
  }

  void fill() {
    while (!stopping_ && launched_ < opts_.sessions && live_.size() < opts_.concurrency) {
      auto c = launch(launched_++);
      if (c) live_.insert(c.release());
    }
  }

  void stop_early() override {
    if (stopping_) return;
    stopping_ = true;
    t_end_ = uv_hrtime();
    for (Connection* c : live_) c->abort();
    maybe_done();
  }

  void abort_all() override {
    for (Connection* c : live_) c->abort();
  }

  void maybe_done() {
    if (!live_.empty() || (!stopping_ && launched_ < opts_.sessions) || finished_) return;
    if (t_end_ == 0) t_end_ = t_last_;
    cpu_used_ = cpu_seconds() - cpu_start_;
    emit(R"({"event":"measure_end"})");
    deadline_.close();
    finish();
  }

  void on_open(Connection& c) override { c.send_message(opts_.size, shared_.now_ns); }

  void on_echo(Connection& c, std::uint64_t, std::size_t) override { c.close(); }

  void on_failure(Connection&, Failure kind, const std::string& why) override {
    if (!stopping_) count_failure(kind, why);
  }

  void on_close_done(Connection& c) override {
    t_last_ = shared_.now_ns;
    hist_.record(t_last_ - c.started_ns());
    ++completed_;
  }

  void on_closed(Connection& c) override {
    live_.erase(&c);
    delete &c;
    fill();
    maybe_done();
  }

  void add_result(JsonLine& j) override {
    const double secs = t_end_ > t_start_ ? seconds(t_start_, t_end_) : 0;
    j.str("mode", "handshake")
        .num("sessions", static_cast<std::uint64_t>(opts_.sessions))
        .num("concurrency", static_cast<std::uint64_t>(opts_.concurrency))
        .num("launched", launched_)
        .num("completed", completed_)
        .num("seconds", secs)
        .num("sessions_per_s", secs > 0 ? static_cast<double>(completed_) / secs : 0.0)
        .num("client_cpu_percent", secs > 0 ? 100.0 * cpu_used_ / secs : 0.0)
        .raw("latency_us", latency_json(hist_))
        .raw("hist", hist_json(hist_));
  }

  Timer deadline_;
  std::unordered_set<Connection*> live_;
  bool stopping_ = false;
  std::uint64_t launched_ = 0, completed_ = 0;
  std::uint64_t t_start_ = 0, t_end_ = 0, t_last_ = 0;
  double cpu_start_ = 0, cpu_used_ = 0;
  Histogram hist_;
};

}  // namespace

std::unique_ptr<Runner> make_handshake_runner(const Options& o) { return std::make_unique<HandshakeRunner>(o); }

}  // namespace wsgate::bench
