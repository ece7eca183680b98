#include "tests/bench/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <iomanip>

namespace wsgate::bench {

// ---- JsonLine

void JsonLine::key(const std::string& k) {
  if (!first_) body_ << ',';
  first_ = false;
  body_ << quote(k) << ':';
}

JsonLine& JsonLine::num(const std::string& k, double v) {
  key(k);
  body_ << std::setprecision(10) << v;
  return *this;
}

JsonLine& JsonLine::num(const std::string& k, std::uint64_t v) {
  key(k);
  body_ << v;
  return *this;
}

JsonLine& JsonLine::str(const std::string& k, const std::string& v) {
  key(k);
  body_ << quote(v);
  return *this;
}

JsonLine& JsonLine::raw(const std::string& k, const std::string& json) {
  key(k);
  body_ << json;
  return *this;
}

std::string JsonLine::quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// ---- Timer

Timer::Timer(uv_loop_t* loop) : handle_(new uv_timer_t) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

Timer::~Timer() { close(); }

void Timer::start(double seconds, std::function<void()> fn) {
  fn_ = std::move(fn);
  uv_timer_start(handle_, &Timer::on_fire, static_cast<std::uint64_t>(seconds * 1000.0), 0);
}

void Timer::stop() {
  if (handle_) uv_timer_stop(handle_);
}

void Timer::close() {
  if (!handle_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  handle_ = nullptr;
}

void Timer::on_fire(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  auto fn = self->fn_;  // the callback may restart the timer
  fn();
}

// ---- Runner

namespace {
uv_loop_t* init_loop(uv_loop_t* loop) {
  uv_loop_init(loop);
  return loop;
}
}  // namespace

Runner::Runner(const Options& options)
    : opts_(options), pattern_(std::max<std::size_t>(options.size, 64)), watchdog_(init_loop(&loop_)) {
  shared_.loop = &loop_;
  shared_.pattern = &pattern_;
  shared_.extra_headers = options.headers;
  if (std::any_of(options.targets.begin(), options.targets.end(), [](const Endpoint& e) { return e.tls; })) {
    test::TlsClientOptions t;
    t.ca_file = options.ca_file;
    t.insecure = options.insecure;
    t.remember_sessions = options.resume;
    if (options.tls_version == 12) t.version = TLS1_2_VERSION;
    if (options.tls_version == 13) t.version = TLS1_3_VERSION;
    tls_ctx_ = test::TlsClientContext::make(t, tls_error_);
    shared_.tls = tls_ctx_.get();
    shared_.resume = options.resume;
  }
  const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
  for (std::size_t i = 0; i < signals_.size(); ++i) {
    signals_[i] = new uv_signal_t;
    uv_signal_init(&loop_, signals_[i]);
    signals_[i]->data = this;
    uv_signal_start(signals_[i], &Runner::on_signal, sigs[i]);
  }
}

Runner::~Runner() {
  finish();
  uv_run(&loop_, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop_) != 0) {
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
}

void Runner::on_signal(uv_signal_t* s, int) {
  auto* self = static_cast<Runner*>(s->data);
  if (!self->finished_) self->stop_early();
}

int Runner::run() {
  if (!tls_error_.empty()) {
    std::fprintf(stderr, "wsgate-bench-client: %s\n", tls_error_.c_str());
    finish();
    return 2;
  }
  watchdog_.start(watchdog_seconds(), [this] {
    count_failure(Failure::kClosed, "watchdog: the run exceeded its time bound");
    abort_all();
    finish();
  });
  begin();
  uv_run(&loop_, UV_RUN_DEFAULT);
  JsonLine j;
  j.str("event", "result");
  add_result(j);
  j.num("cpu_seconds", cpu_seconds());
  if (shared_.tls) {
    // Every completed TLS handshake, warm-up and opening included.
    const std::uint64_t all = shared_.tls_full + shared_.tls_resumed;
    j.raw("tls", JsonLine()
                     .num("full", shared_.tls_full)
                     .num("resumed", shared_.tls_resumed)
                     .num("resumed_share", all ? static_cast<double>(shared_.tls_resumed) / static_cast<double>(all) : 0.0)
                     .num("offered", shared_.tls_offered)
                     .num("resumed_of_offered", shared_.tls_offered ? static_cast<double>(shared_.tls_resumed) /
                                                                          static_cast<double>(shared_.tls_offered)
                                                                    : 0.0)
                     .str("resume", opts_.resume ? "on" : "off")
                     .done());
  }
  std::string errors = "{";
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    if (i) errors += ",";
    errors += JsonLine::quote(failure_name(static_cast<Failure>(i))) + ":" + std::to_string(failures_[i]);
  }
  errors += "}";
  j.raw("errors", errors);
  j.num("error_total", failures());
  std::string firsts = "[";
  for (std::size_t i = 0; i < first_errors_.size(); ++i) firsts += (i ? "," : "") + JsonLine::quote(first_errors_[i]);
  j.raw("first_errors", firsts + "]");
  emit(j.done());
  return failures() == 0 ? 0 : 1;
}

std::unique_ptr<Connection> Runner::launch(std::uint64_t index) {
  auto c = std::make_unique<Connection>(shared_, *this, index);
  const Endpoint& to = opts_.targets[index % opts_.targets.size()];
  std::optional<sockaddr_in> from;
  if (!opts_.sources.empty()) from = opts_.sources[index % opts_.sources.size()];
  const std::string err = c->start(to, from);
  if (!err.empty()) {
    count_failure(Failure::kConnect, err);
    return nullptr;
  }
  return c;
}

void Runner::count_failure(Failure kind, const std::string& why) {
  ++failures_[static_cast<std::size_t>(kind)];
  if (first_errors_.size() < 5) first_errors_.push_back(std::string(failure_name(kind)) + ": " + why);
}

std::uint64_t Runner::failures() const {
  std::uint64_t n = 0;
  for (const auto f : failures_) n += f;
  return n;
}

void Runner::emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Runner::finish() {
  if (finished_) return;
  finished_ = true;
  watchdog_.close();
  for (auto*& s : signals_) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
    s = nullptr;
  }
}

double Runner::cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string Runner::latency_json(const Histogram& h) const {
  JsonLine j;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  j.num("count", h.count())
      .num("min", us(h.min()))
      .num("mean", h.mean() / 1000.0)
      .num("p50", us(h.quantile(0.50)))
      .num("p90", us(h.quantile(0.90)))
      .num("p99", us(h.quantile(0.99)))
      .num("p999", us(h.quantile(0.999)))
      .num("max", us(h.max()));
  return j.done();
}

std::string Runner::hist_json(const Histogram& h) const {
  std::string out = "[";
  bool first = true;
  for (const auto& [i, n] : h.nonzero()) {
    if (!first) out += ",";
    first = false;
    out += "[" + std::to_string(i) + "," + std::to_string(n) + "]";
  }
  return out + "]";
}

}  // namespace wsgate::bench
