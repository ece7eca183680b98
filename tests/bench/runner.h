// What the load modes share: the loop, the payload pattern, connection
// launching spread over targets and source addresses, failure counting,
// timers, signals (SIGTERM/SIGINT/SIGUSR1 end the run early), a watchdog that
// bounds every run, and the JSON lines on stdout.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bench/connection.h"
#include "tests/bench/histogram.h"
#include "tests/bench/options.h"

namespace wsgate::bench {

// A flat JSON object written field by field.
class JsonLine {
 public:
  JsonLine& num(const std::string& key, double v);
  JsonLine& num(const std::string& key, std::uint64_t v);
  JsonLine& str(const std::string& key, const std::string& v);
  JsonLine& raw(const std::string& key, const std::string& json);
  std::string done() const { return "{" + body_.str() + "}"; }
  static std::string quote(const std::string& s);

 private:
  void key(const std::string& k);
  std::ostringstream body_;
  bool first_ = true;
};

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start(double seconds, std::function<void()> fn);
  void stop();
  void close();  // before the loop's last run

 private:
  static void on_fire(uv_timer_t* t);
  uv_timer_t* handle_;
  std::function<void()> fn_;
};

class Runner : public ConnectionHandler {
 public:
  explicit Runner(const Options& options);
  ~Runner() override;
  // Runs the mode to the end; prints the result line. Exit code: 0 if no
  // failures were counted, 1 otherwise.
  int run();

 protected:
  virtual void begin() = 0;
  virtual void stop_early() = 0;  // a signal arrived
  virtual void abort_all() = 0;   // the watchdog fired: drop every connection
  virtual void add_result(JsonLine& j) = 0;
  virtual double watchdog_seconds() const = 0;

  // A new connection for slot `index` (target and source chosen round-robin
  // by index). nullptr if no socket could be made (counted as a failure).
  std::unique_ptr<Connection> launch(std::uint64_t index);
  void count_failure(Failure kind, const std::string& why);
  std::uint64_t failures() const;
  void emit(const std::string& line);
  // Closes the runner's own handles: the loop ends once connections are gone.
  void finish();
  static double seconds(std::uint64_t from_ns, std::uint64_t to_ns) {
    return static_cast<double>(to_ns - from_ns) / 1e9;
  }
  static double cpu_seconds();
  std::string latency_json(const Histogram& h) const;
  std::string hist_json(const Histogram& h) const;

  Options opts_;
  uv_loop_t loop_{};
  Pattern pattern_;
  Shared shared_;
  Timer watchdog_;
  bool finished_ = false;

 private:
  static void on_signal(uv_signal_t* s, int signum);

  std::unique_ptr<test::TlsClientContext> tls_ctx_;  // when a target is wss://
  std::string tls_error_;
  std::array<uv_signal_t*, 3> signals_{};
  std::array<std::uint64_t, 5> failures_{};
  std::vector<std::string> first_errors_;
};

std::unique_ptr<Runner> make_echo_runner(const Options& o);
std::unique_ptr<Runner> make_handshake_runner(const Options& o);
std::unique_ptr<Runner> make_idle_runner(const Options& o);
std::unique_ptr<Runner> make_subscribe_runner(const Options& o);

}  // namespace wsgate::bench
