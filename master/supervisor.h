// The master's life: own the listening sockets and the shared table, fork
// one worker per slot (proxy workers first, then the health prober when a
// pool has `health`), refill a slot whose process died, and stop them all on
// SIGTERM/SIGINT. It runs no event loop (children must not inherit one) and
// does no network I/O: it waits for signals with sigtimedwait(). Under
// systemd (Type=notify) it reports readiness, status, reloads and stops, and
// pets the watchdog from that same loop, so a wedged master stops petting.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "master/listeners.h"
#include "master/systemd_notify.h"
#include "shm/segment.h"
#include "shm/stream_segment.h"
#include "worker/stream_plan.h"

namespace wsgate::master {

class Supervisor {
 public:
  // Binds the sockets and creates the segment; throws std::runtime_error
  // (or shm::SegmentError) with a message fit for the operator.
  Supervisor(conf::Config config, const std::string& shm_name);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  int run();

 private:
  struct Slot {
    pid_t pid = 0;
    int64_t spawned_ms = 0;
    int quick_deaths = 0;     // consecutive deaths within a second of spawning
    int64_t respawn_at_ms = 0;  // throttled respawn pending when nonzero
    bool fatal = false;       // exited with kExitFatal: respawning would fail again
  };

  void fill_table();
  bool is_prober_slot(uint32_t slot) const { return slot == prober_slot_; }
  bool is_feeder_slot(uint32_t slot) const { return slot == feeder_slot_; }
  const char* role_name(uint32_t slot) const;
  void setup_streams();
  void spawn(uint32_t slot);
  [[noreturn]] void become_worker(uint32_t slot);
  void reap_children();
  void on_worker_exit(uint32_t slot, int status);
  void respawn_due();
  void begin_stop(int signum);
  bool any_worker_alive() const;
  bool all_proxies_fatal() const;
  void handle_sighup();
  void kill_stragglers();
  // systemd: READY=1 once every proxy worker has claimed its slot in the
  // table, STATUS= when it changed (at most every 2 s), WATCHDOG=1 when due.
  void notify_tick();
  uint32_t proxies_claimed() const;
  std::string status_text() const;
  void notify_ready();
  // How long sigtimedwait() may sleep: 200 ms, less when a pet is due sooner
  // or while readiness is awaited.
  int64_t wait_ms() const;

  conf::Config config_;
  ListenSockets listeners_;
  shm::Segment segment_;
  // Non-proxy roles follow the proxy workers' slots; kNoSlot when absent.
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  uint32_t prober_slot_ = kNoSlot;
  uint32_t feeder_slot_ = kNoSlot;
  // Fan-out streams: the ring segment and one eventfd per proxy slot (the
  // feeder wakes that worker) plus the feeder's own (a first subscriber).
  worker::StreamPlan stream_plan_;
  std::optional<shm::StreamSegment> streams_;
  std::vector<int> worker_wake_fds_;
  int feeder_wake_fd_ = -1;
  int alive_pipe_[2] = {-1, -1};
  std::vector<Slot> slots_;
  uint32_t generation_ = 1;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  SystemdNotifier notifier_;
  bool ready_notified_ = false;
  std::string status_sent_;
  int64_t status_sent_ms_ = 0;
  int64_t watchdog_due_ms_ = 0;
};

}  // namespace wsgate::master
