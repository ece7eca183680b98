// The master's life: own the listening sockets and the shared table, fork
// the role processes into slots (proxy workers, the health prober when a
// pool has `health`, a stream feeder per set of streams, the admin endpoint),
// refill a slot whose process died, reload on SIGHUP and stop them all on
// SIGTERM/SIGINT/SIGQUIT. It runs no event loop (children must not inherit
// one) and does no network I/O: it waits for signals with sigtimedwait().
// Under systemd (Type=notify) it reports readiness, status, reloads and
// stops, and pets the watchdog from that same loop, so a wedged master stops
// petting.
//
// The pieces it drives: the slots (master/slot_table.h), the generations of
// proxy workers and what a reload does to them (master/generations.h), and
// one launcher per role (master/launch.h). Pools, backends and limits change
// in place (shm table + the published config text); no worker is replaced.
//
// Its methods, by file: supervisor.cpp (the loop, stopping),
// supervisor_children.cpp (spawning and refilling slots),
// supervisor_reload.cpp (SIGHUP), supervisor_retire.cpp (old generations),
// supervisor_roles.cpp (prober, feeder, admin), supervisor_backends.cpp
// (the backend table), supervisor_notify.cpp (systemd).
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
#include "master/generations.h"
#include "master/launch.h"
#include "master/listeners.h"
#include "master/slot_table.h"
#include "master/stream_set.h"
#include "master/systemd_notify.h"
#include "shm/config_blob.h"
#include "shm/segment.h"
#include "worker/net/ticket_keys.h"
#include "worker/net/tls_material.h"

namespace wsgate::master {

class Supervisor {
 public:
  // Binds the sockets and creates the segments; throws std::runtime_error
  // (or shm::SegmentError) with a message fit for the operator. `text` is
  // the file's content `config` was parsed from.
  Supervisor(conf::Config config, const std::string& text, const std::string& shm_name);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Returns the process exit code: 0 after a requested stop, 1 when no proxy
  // worker could start.
  int run();

 private:
  // --- stopping (supervisor.cpp) ---
  void begin_stop(int signum);
  void begin_quit();
  void kill_stragglers();

  // --- children (supervisor_children.cpp) ---
  void spawn(uint32_t slot);
  ChildContext child_context();
  void reap_children();
  void on_child_exit(uint32_t slot, int status);
  void on_proxy_exit(uint32_t slot, int status, const std::string& what);
  // Refills the slot with the same role: at once, or throttled when it
  // keeps dying right after start.
  void refill(uint32_t slot, int status, const std::string& what);
  void respawn_due();
  // A proxy slot for each of `g`'s workers, serving its stream set.
  void take_proxy_slots(Generation& g);

  // --- reloads (supervisor_reload.cpp) ---
  void start_first_generation(const std::string& text);
  void handle_sighup();
  void reload_failed(const std::string& why);
  bool apply_in_place(std::shared_ptr<const conf::Config> fresh, const std::string& text, const conf::ReloadPlan& plan);
  void start_generation(std::shared_ptr<const conf::Config> fresh, const std::string& text,
                        const conf::ReloadPlan& plan);
  void check_starting();
  void promote(Generation& g);
  void abort_starting(const std::string& why);
  void reload_done();

  // --- old generations (supervisor_retire.cpp) ---
  // `g` retires by `deadline_ms` (Generations::retire), and its workers are told.
  void retire_generation(Generation& g, int64_t deadline_ms);
  // Tells retiring `g`'s live workers to finish by its deadline (in the
  // table, then SIGQUIT); frees its slots that wait for a respawn a retiring
  // generation never gets.
  void tell_retiring(const Generation& g);
  void limit_retiring();
  void check_retire_deadlines();
  void forget_finished_generations();
  bool generation_alive(const Generation& g) const;

  // --- prober, feeder, admin (supervisor_roles.cpp) ---
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

  // --- the backend table (supervisor_backends.cpp) ---
  // Rows for every backend of `config` (new ones appended); with
  // `mark_removed`, rows no longer configured are marked removed.
  void sync_backend_table(const conf::Config& config, bool mark_removed);
  // Whether the table and the slots can take `fresh`: checked before
  // anything changes, so a refused reload leaves no half-applied state.
  std::optional<std::string> check_room(const conf::Config& fresh, uint32_t slots_needed) const;

  // --- TLS (supervisor_tls.cpp) ---
  // The certificate files of `config`'s TLS listeners, read and checked
  // (warnings logged), as the text the workers' blob holds. Throws
  // conf::ConfigError naming the file.
  std::string read_tls(const conf::Config& config);
  void publish_tls(const conf::Config& config, const std::string& material);
  void list_certificates(const conf::Config& config, const std::string& material);
  void rotate_tickets_if_due();

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
  TlsBlobs tls_blobs_;
  std::string tls_published_;  // the material text the workers have
  std::string tls_pending_;    // read by the SIGHUP being handled
  worker::TicketKeySet tickets_;
  int64_t tickets_rotated_ms_ = 0;
  SlotTable slots_;
  Generations generations_;
  uint32_t last_stream_set_ = 0;
  std::vector<std::shared_ptr<StreamSet>> stream_sets_;  // every set a slot or generation still uses
  int alive_pipe_[2] = {-1, -1};
  bool running_ = false;         // run() has spawned the first children
  bool reload_pending_ = false;  // a SIGHUP came while a generation was starting
  bool stopping_ = false;
  bool quitting_ = false;      // SIGQUIT: sessions may finish first
  bool start_failed_ = false;  // no proxy worker could start
  int64_t stop_deadline_ms_ = 0;
  SystemdNotifier notifier_;
  bool ready_notified_ = false;
  bool reload_notified_ = false;  // RELOADING=1 sent, READY=1 owed
  std::string status_sent_;
  int64_t status_sent_ms_ = 0;
  int64_t watchdog_due_ms_ = 0;
};

}  // namespace wsgate::master
