// Pieces of the chaos suite that are not the load: sizes from the
// environment, echo backends on fixed ports (so a killed one can come back on
// the same address), a "backend" that accepts TCP and never answers, a
// read-only view of wsgate's shared table polled every millisecond, and the
// result line / Markdown row each scenario reports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "shm/segment.h"
#include "tests/support/gateway.h"
#include "tests/support/process.h"

namespace wsgate::chaos {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test::ChildProcess;
using test::Gateway;
using test::TestIoError;
using test::WsClient;

// Milliseconds from `from` to `to` (negative if `to` is earlier).
long ms_between(Clock::time_point from, Clock::time_point to);
inline long ms_since(Clock::time_point from) { return ms_between(from, Clock::now()); }

// CHAOS_SESSIONS (500), CHAOS_FREEZE_S (10), CHAOS_NEW_PER_S (20).
struct Sizes {
  int sessions = 500;
  int freeze_s = 10;
  int new_per_s = 20;
  static Sizes from_env();
};

// A loopback port below the kernel's ephemeral range that nothing holds now.
// Outside that range, no outgoing connection (wsgate's, the clients') can take
// it while its backend is down, so a restart on the same port cannot collide.
std::uint16_t stable_port();

// wsgate-echo-backend on 127.0.0.1:PORT, started by start() and restartable
// on the same port after kill9()/terminate().
class Backend {
 public:
  explicit Backend(std::string name, std::uint16_t port = 0);  // 0: stable_port()
  void start();          // spawns, waits for "listening on"; retries a busy port for 5 s
  void kill9();          // SIGKILL and reap
  void signal(int sig);  // SIGTERM / SIGSTOP / SIGCONT, no wait
  void wait_exit(milliseconds timeout = milliseconds(5000));
  bool running();
  const std::string& name() const { return name_; }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  ChildProcess* process() { return process_.get(); }

 private:
  std::string name_;
  std::uint16_t port_;
  std::unique_ptr<ChildProcess> process_;
};

// A plain listening socket that never accepts: the kernel completes TCP
// handshakes into its backlog, and nothing is ever answered.
class BlackHole {
 public:
  // Binds (SO_REUSEADDR: the port's previous owner may leave TIME_WAITs),
  // retrying for `timeout` while the port is busy.
  explicit BlackHole(std::uint16_t port, milliseconds timeout = milliseconds(3000));
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  ~BlackHole();
  // Connections waiting in the accept queue (TCP_INFO of a listening socket).
  int queued() const;

 private:
  int fd_ = -1;
};

// The instance's shared table mapped read-only, as `wsgate status` maps it,
// but read in-process: a `wsgate status` run costs ~200 ms under the
// sanitizers, which would blur every timing measured here.
class ShmView {
 public:
  explicit ShmView(const Gateway& gw);
  bool routable(const std::string& address) const;
  bool health_down(const std::string& address) const;
  long sessions(const std::string& address) const;
  long total_sessions() const;
  long slot_sessions(std::uint32_t slot) const;  // over every backend
  int slot_pid(std::uint32_t slot) const;
  std::uint32_t slot_role(std::uint32_t slot) const;  // shm::SlotRole
  std::uint32_t state_changes(const std::string& address) const;
  long checks_ok_in_a_row(const std::string& address) const;
  std::string last_error(const std::string& address) const;

  // Polls `pred` every millisecond; the milliseconds it took, or -1.
  template <class Pred>
  long wait(Pred pred, milliseconds timeout) const {
    const auto t0 = Clock::now();
    for (;;) {
      if (pred()) return ms_since(t0);
      if (Clock::now() - t0 >= timeout) return -1;
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

 private:
  std::uint32_t id_of(const std::string& address) const;
  shm::Segment seg_;
};

// What one scenario reports: one line on stdout, one Markdown row in
// $CHAOS_REPORT when set.
struct Result {
  std::string scenario;
  int sessions = 0;            // steady sessions at the start
  long new_sessions = 0;       // handshakes attempted by the stream of new clients
  long failed_handshakes = 0;  // of those, failed while a backend was healthy
  long new_cut = 0;            // new sessions cut after their 101 (on the failed component)
  long on_failed = 0;          // steady sessions on the failed component
  long lost = 0;               // steady sessions lost (closed, broken, stalled)
  long moved = 0;              // moved to another backend (`reconnect`)
  long lost_elsewhere = 0;     // lost though not on the failed component
  std::string loss_how;        // "1012 x 167", "broken x 80", ...
  long detect_ms = -1;
  long handled_ms = -1;  // fault -> last affected session closed or moved
  long recover_ms = -1;
  bool counts_ok = false;
  long counts_ms = -1;
  std::string notes;
};

void report(const Result& r);
std::string markdown_header();
std::string markdown_row(const Result& r);

}  // namespace wsgate::chaos
