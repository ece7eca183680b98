// What every role process (proxy worker, prober, feeder, admin) does around
// its own work, written once: the loop, the stop signals, log upkeep, the
// file descriptor probe (fd_watch.h), the graveyard, and at the end of start-up the claim of its shm slot (from then
// on the master counts it as up) and the "ready" line.
//
//   RoleRuntime rt({table, slot, generation, shm::SlotRole::prober, master_alive_fd});
//   if (!rt.start([&](const char* why) { stop(why); })) return kExitFatal;
//   ... the role's own handles on rt.loop() ...
//   rt.ready("prober for slot %u ready: ...", slot);
//   return rt.run();
//
// Declared before the role's members that own handles, it is destroyed after
// them, and its loop then runs until their close callbacks have freed every
// handle. The role's destructor calls close() first: what waits in the
// graveyard may still use the role's members.
#pragma once

#include <uv.h>

#include <cstdint>

#include "shm/layout.h"
#include "worker/net/event_loop.h"
#include "worker/net/fd_watch.h"
#include "worker/net/graveyard.h"
#include "worker/net/log_upkeep.h"
#include "worker/net/stop_signals.h"

namespace wsgate::worker {

// Which slot of the shared table a role process takes, and how the master
// is watched.
struct RoleIdentity {
  shm::Table* table = nullptr;
  uint32_t slot = 0;
  uint32_t generation = 1;
  shm::SlotRole role = shm::SlotRole::proxy;
  int master_alive_fd = -1;  // read end of a pipe the master holds open: EOF = master died; < 0: none
};

class RoleRuntime {
 public:
  explicit RoleRuntime(const RoleIdentity& who) : who_(who) {}
  ~RoleRuntime() { close(); }
  RoleRuntime(const RoleRuntime&) = delete;
  RoleRuntime& operator=(const RoleRuntime&) = delete;

  // Creates the loop and watches the stop signals (SIGQUIT too when
  // `on_retire` is given), SIGUSR1 and the log flush, and sets up the
  // graveyard (`after_burial` runs after each of its turns). False, with the
  // cause logged, when any of it fails: the role exits with kExitFatal.
  bool start(StopSignals::OnStop on_stop, StopSignals::OnRetire on_retire = {},
             Graveyard::AfterBurial after_burial = {});

  uv_loop_t* loop() { return loop_.get(); }
  Graveyard& graveyard() { return graveyard_; }

  // The end of start-up: claims the slot for this process (the master now
  // counts it as up) and logs the ready line (printf-style).
  void ready(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  // Runs the loop until every handle is closed; returns kExitOk.
  int run();

  // Stops watching signals and flushing logs and empties the graveyard:
  // once the role closed its own handles the loop ends. Safe inside a
  // callback that is not a buried object's own, and more than once.
  void close();

 private:
  RoleIdentity who_;
  EventLoop loop_;  // first: destroyed after every handle below
  StopSignals stop_signals_;
  LogUpkeep log_upkeep_;
  FdWatch fd_watch_;
  Graveyard graveyard_;
};

}  // namespace wsgate::worker
