// The master's process slots: which role each slot of the shared table
// holds, the process running in it, and what happens when that process
// dies. A slot is free when it has no role and no process. The table keeps
// the shared segment's view in step (the slot count `wsgate status` lists,
// a released slot's rows) and sends the signals, through a function the
// tests replace so they never signal a real process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shm/layout.h"

namespace wsgate::master {

class StreamSet;

struct Slot {
  shm::SlotRole role = shm::SlotRole::none;
  pid_t pid = 0;
  int64_t spawned_ms = 0;
  int quick_deaths = 0;                // consecutive deaths within a second of spawning
  int64_t respawn_at_ms = 0;           // throttled respawn pending when nonzero
  bool fatal = false;                  // exited with kExitFatal: respawning would fail again
  bool restart = false;                // asked to stop so it comes back with the new config
  bool retire = false;                 // asked to stop for good: free the slot when it exits
  uint32_t generation = 0;             // proxy: its generation's id
  uint32_t index = 0;                  // proxy: its index within the generation
  std::shared_ptr<StreamSet> streams;  // proxy and feeder: the set they use

  bool alive() const { return pid > 0; }
  bool is_free() const { return role == shm::SlotRole::none && pid == 0; }
};

// What becomes of a slot whose process died without being retired.
enum class Refill {
  restart,    // it was asked to stop to come back with the new config: spawn now
  fatal,      // it exited with kExitFatal: leave it empty
  throttled,  // it keeps dying right after start: respawn at respawn_at_ms
  now,        // respawn now
};

class SlotTable {
 public:
  using SendSignal = std::function<void(pid_t pid, int signum)>;

  // A process that dies this soon after its spawn counts as a quick death;
  // this many in a row delay its respawn by kThrottleMs.
  static constexpr int64_t kQuickDeathMs = 1000;
  static constexpr int kQuickDeathsBeforeThrottle = 5;
  static constexpr int64_t kThrottleMs = 1000;

  // shm::kMaxSlots slots over `table`; `send` is kill(2) in the master.
  SlotTable(shm::Table& table, SendSignal send);

  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  Slot& operator[](uint32_t slot) { return slots_[slot]; }
  const Slot& operator[](uint32_t slot) const { return slots_[slot]; }
  // "worker 3", "prober 5": how the log names a slot.
  std::string label(uint32_t slot) const;

  // The lowest free slot, reset and given `role`; nullopt when none is free.
  std::optional<uint32_t> take(shm::SlotRole role);
  // The slot is no one's any more: reset here and released in the table.
  void free(uint32_t slot);
  // Stop for good: a live process gets SIGTERM and its slot is freed when it
  // exits; a slot without one is freed now.
  void retire(uint32_t slot);
  // A live process gets SIGTERM and is respawned when it exits (to pick up a
  // new config or socket); a slot without one is left as it is.
  void restart(uint32_t slot);
  // Sends `signum` to the slot's process; false when it has none.
  bool signal(uint32_t slot, int signum) const;
  void signal_all(int signum) const;

  std::optional<uint32_t> find_pid(pid_t pid) const;
  // The slot of `role` that is not being retired (the prober, the admin).
  std::optional<uint32_t> find_current(shm::SlotRole role) const;
  uint32_t free_count() const;
  bool any_alive() const;
  bool any_alive(shm::SlotRole role) const;

  // --- a slot's process ---
  void started(uint32_t slot, pid_t pid, int64_t now_ms);
  // fork() failed: try again in kThrottleMs.
  void fork_failed(uint32_t slot, int64_t now_ms);
  // Its process is gone: the pid is forgotten and its rows in the table (and
  // in its stream set's channel table) are zeroed, its sessions died with it.
  void exited(uint32_t slot);
  // For a slot whose process died and was not retired: the restart flag is
  // consumed, a fatal exit marks the slot fatal, and otherwise the death is
  // counted (quick deaths, the table's respawn count) and maybe throttled.
  Refill refill(uint32_t slot, bool fatal_exit, int64_t now_ms);
  // Throttled slots whose respawn is due.
  std::vector<uint32_t> due(int64_t now_ms) const;

 private:
  void publish_count();

  shm::Table* table_;
  SendSignal send_;
  std::vector<Slot> slots_;
};

}  // namespace wsgate::master
