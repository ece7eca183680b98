// The shared-memory layout: plain types only, fixed sizes, no pointers, no
// allocator and no mutex (a process that dies holding a lock in shared memory
// would wedge every other one). Every field another process reads is a
// lock-free std::atomic.
//
// Ownership of writes:
//   Header, BackendEntry identity  -> the master, before any worker exists
//   WorkerSlot[i], SessionRow[i]   -> the process in slot i; the master zeroes
//                                     them when that process has died
//   BackendEntry health fields     -> any worker (passive health: monotonic
//                                     "down until" deadlines, last writer wins)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace wsgate::shm {

inline constexpr uint64_t kMagic = 0x3130657461677377ULL;  // "wsgate01" little-endian
inline constexpr uint32_t kLayoutVersion = 1;

// Capacities are fixed so the layout is too. Slots leave room for draining
// generations and non-proxy roles (prober, feeder) next to the proxy workers.
inline constexpr uint32_t kMaxSlots = 64;
inline constexpr uint32_t kMaxBackends = 512;
inline constexpr size_t kNameLen = 64;

// Version-independent prefix: any wsgate can read these fields of any
// segment, so it can refuse a foreign layout with a clear message and tell a
// live owner from a stale file.
struct Prefix {
  uint64_t magic;
  uint32_t version;
  uint32_t prefix_size;
  uint64_t total_size;
  std::atomic<int32_t> master_pid;
  uint32_t reserved;
};

struct Header {
  Prefix prefix;
  std::atomic<uint32_t> backend_count;
  std::atomic<uint32_t> slot_count;  // slots in use: proxy workers first
  std::atomic<int64_t> started_ms;   // CLOCK_REALTIME of the master's start
};

enum class BackendState : uint32_t { up = 0, down = 1, draining = 2 };
enum class SlotRole : uint32_t { none = 0, proxy = 1 };

struct BackendEntry {
  char pool[kNameLen];     // NUL-terminated
  char address[kNameLen];  // canonical "host:port"
  std::atomic<uint32_t> weight;
  std::atomic<uint32_t> admin_state;    // BackendState: set by operators/prober
  std::atomic<int64_t> down_until_ms;   // CLOCK_MONOTONIC ms; passive health
  std::atomic<uint32_t> consecutive_failures;
  std::atomic<uint64_t> failures_total;
};

struct WorkerSlot {
  std::atomic<int32_t> pid;        // 0 = empty
  std::atomic<uint32_t> role;      // SlotRole
  std::atomic<uint32_t> generation;
  std::atomic<uint32_t> connections;  // client connections this process holds
  std::atomic<uint64_t> respawns;     // times the master refilled this slot
};

// One row per slot; only the slot's process writes it. A backend's load is
// the sum of its column. Signed so an accounting bug shows up as a negative
// number instead of wrapping to four billion.
struct SessionRow {
  std::atomic<int32_t> sessions[kMaxBackends];
};

struct Table {
  Header header;
  WorkerSlot slots[kMaxSlots];
  BackendEntry backends[kMaxBackends];
  SessionRow rows[kMaxSlots];
};

static_assert(std::atomic<int32_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<Table>);
static_assert(offsetof(Header, prefix) == 0);
static_assert(sizeof(Prefix) == 32, "the prefix is shared by every layout version");

}  // namespace wsgate::shm
