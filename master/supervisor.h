// The master's life: own the listening sockets and the shared table, fork
// the worker processes into slots (proxy workers, the health prober when a
// pool has `health`, a stream feeder per set of streams), refill a slot whose
// process died, reload on SIGHUP and stop them all on SIGTERM/SIGINT/SIGQUIT.
// It runs no event loop (children must not inherit one) and does no network
// I/O: it waits for signals with sigtimedwait(). Under systemd (Type=notify)
// it reports readiness, status, reloads and stops, and pets the watchdog from
// that same loop, so a wedged master stops petting.
//
// Generations: the proxy workers forked for one config are a generation. A
// reload that changes what workers are built around (listen, workers,
// routes, streams, auth rules) starts a new one on the same listening
// sockets; once all of its workers are ready the old one stops accepting and
// drains (SIGQUIT, deadline in shm). Pools, backends and limits change in
// place (shm table + the published config text); no worker is replaced.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/reload_plan.h"
#include "master/admin_socket.h"
#include "master/listeners.h"
#include "master/stream_set.h"
#include "master/systemd_notify.h"
#include "shm/config_blob.h"
#include "shm/segment.h"

namespace wsgate::master {

class Supervisor {
 public:
  // Binds the sockets and creates the segments; throws std::runtime_error
  // (or shm::SegmentError) with a message fit for the operator. `text` is
  // the file's content `config` was parsed from.
  Supervisor(conf::Config config, std::string text, const std::string& shm_name);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Returns the process exit code: 0 after a requested stop, 1 when no proxy
  // worker could start.
  int run();

 private:
  enum class Role { free, proxy, prober, feeder, admin };
  struct Slot {
    Role role = Role::free;
    pid_t pid = 0;
    int64_t spawned_ms = 0;
    int quick_deaths = 0;       // consecutive deaths within a second of spawning
    int64_t respawn_at_ms = 0;  // throttled respawn pending when nonzero
    bool fatal = false;         // exited with kExitFatal: respawning would fail again
    bool restart = false;       // asked to stop so it comes back with the new config
    bool retire = false;        // asked to stop for good: free the slot when it exits
    uint32_t generation = 0;    // proxy: its generation's id
    uint32_t index = 0;         // proxy: its index within the generation
    std::shared_ptr<StreamSet> streams;  // proxy and feeder: the set they use
  };
  enum class GenState { starting, active, draining };
  struct Generation {
    uint32_t id = 0;
    std::shared_ptr<const conf::Config> config;
    std::string text;           // the file content, published once it is active
    std::vector<uint32_t> slots;
    GenState state = GenState::starting;
    int64_t started_ms = 0;
    int64_t deadline_ms = 0;    // draining: what is left gets 1001 from this time on
    int64_t kill_at_ms = 0;     // draining: SIGKILL what is left at this time
    std::string changes;        // what the reload changed, for the log
    std::shared_ptr<StreamSet> streams;
    std::optional<AdminSocket> admin_socket;  // bound for it, taken over at the switch
  };

  // --- children (supervisor.cpp) ---
  void spawn(uint32_t slot);
  [[noreturn]] void become_child(uint32_t slot);
  void reap_children();
  void on_child_exit(uint32_t slot, int status);
  void on_proxy_exit(uint32_t slot, int status, const std::string& what);
  void restart_or_respawn(uint32_t slot, int status, const std::string& what);
  void respawn_due();
  void free_slot(uint32_t slot);
  std::optional<uint32_t> take_free_slot(Role role);
  void publish_slot_count();
  std::string slot_label(uint32_t slot) const;
  void begin_stop(int signum);
  void begin_quit();
  void kill_stragglers();
  bool any_child_alive() const;
  bool any_proxy_alive() const;

  // --- generations and reloads (supervisor_reload.cpp) ---
  Generation* find(GenState state);
  const Generation* find(GenState state) const;
  Generation* generation(uint32_t id);
  void start_first_generation(const std::string& text);
  void handle_sighup();
  void reload_failed(const std::string& why);
  bool apply_in_place(std::shared_ptr<const conf::Config> fresh, const std::string& text, const conf::ReloadPlan& plan);
  void start_generation(std::shared_ptr<const conf::Config> fresh, const std::string& text, const conf::ReloadPlan& plan);
  void check_starting();
  void promote(Generation& g);
  void abort_starting(const std::string& why);
  void drain_generation(Generation& g, int64_t deadline_ms);
  void limit_draining();
  void forget_finished_generations();
  // Rows for every backend of `config` (new ones appended); with
  // `mark_removed`, rows no longer configured are marked removed.
  void sync_backend_table(const conf::Config& config, bool mark_removed);
  void sync_prober(bool pools_changed);
  void start_admin();
  // A socket for `fresh`'s admin address when it moved (nullopt when it did
  // not, or there is none); throws like AdminSocket, failing the reload.
  std::optional<AdminSocket> bind_admin(const conf::Config& fresh) const;
  // The admin process follows the active config: started, stopped, or
  // restarted on a new socket or to serve a new generation's stream set.
  void sync_admin(std::optional<AdminSocket> socket, bool streams_switched);
  void retire_unused_stream_sets();
  std::shared_ptr<StreamSet> make_stream_set(std::shared_ptr<const conf::Config> config);
  void attach_feeder(const std::shared_ptr<StreamSet>& set);
  std::optional<std::string> check_room(const conf::Config& fresh, uint32_t slots_needed) const;
  void check_drain_deadlines();

  // --- systemd (supervisor_notify.cpp) ---
  // READY=1 once every proxy worker of the active generation has claimed
  // its slot, STATUS= when it changed (at most every 2 s), WATCHDOG=1 when due.
  void notify_tick();
  uint32_t proxies_claimed(const Generation& g) const;
  std::string status_text() const;
  void notify_ready();
  // How long sigtimedwait() may sleep: 200 ms, less when a pet is due sooner
  // or while readiness is awaited.
  int64_t wait_ms() const;

  std::shared_ptr<const conf::Config> config_;  // the active generation's
  ListenSockets listeners_;
  AdminSocket admin_socket_;  // config `admin`: bound once, inherited by the admin role
  shm::Segment segment_;
  shm::ConfigBlob blob_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Generation>> generations_;  // oldest first
  uint32_t last_generation_ = 0;
  uint32_t last_stream_set_ = 0;
  std::vector<std::shared_ptr<StreamSet>> stream_sets_;  // every set a slot or generation still uses
  int alive_pipe_[2] = {-1, -1};
  bool running_ = false;          // run() has spawned the first children
  bool reload_pending_ = false;   // a SIGHUP came while a generation was starting
  bool stopping_ = false;
  bool quitting_ = false;         // SIGQUIT: sessions may finish first
  bool start_failed_ = false;     // no proxy worker could start
  int64_t stop_deadline_ms_ = 0;
  SystemdNotifier notifier_;
  bool ready_notified_ = false;
  bool reload_notified_ = false;  // RELOADING=1 sent, READY=1 owed
  std::string status_sent_;
  int64_t status_sent_ms_ = 0;
  int64_t watchdog_due_ms_ = 0;
};

}  // namespace wsgate::master
