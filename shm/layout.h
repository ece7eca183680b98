// The shared-memory layout: plain types only, fixed sizes, no pointers, no
// allocator and no mutex (a process that dies holding a lock in shared memory
// would wedge every other one). Every field another process reads is a
// lock-free std::atomic.
//
// Ownership of writes:
//   Header, PoolEntry name,
//   BackendEntry identity + policy -> the master, before any worker exists
//   WorkerSlot[i], SessionRow[i]   -> the process in slot i; the master zeroes
//                                     them when that process has died
//   BackendEntry passive fields    -> any worker (monotonic "down until"
//                                     deadlines, failure counts; last writer wins)
//   BackendEntry check fields      -> the prober (rtt, last check, successes)
//   BackendEntry::health           -> the prober, and any worker taking a
//                                     backend down after `fall` passive
//                                     failures; changed by CAS only, so each
//                                     transition is counted once
//   BackendEntry::last_error       -> prober and workers, under a seqlock
//                                     that writers only try to take
//   PoolEntry::tat_ns              -> any worker, by CAS (rate limiter)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shm/certificate_list.h"
#include "shm/control_layout.h"
#include "shm/ip_table_layout.h"
#include "shm/metrics_layout.h"

namespace wsgate::shm {

inline constexpr uint64_t kMagic = 0x3130657461677377ULL;  // "wsgate01" little-endian
inline constexpr uint32_t kLayoutVersion = 4;

// Capacities are fixed so the layout is too. Slots leave room for draining
// generations and non-proxy roles (prober, feeder) next to the proxy workers.
inline constexpr uint32_t kMaxSlots = 128;
inline constexpr uint32_t kMaxBackends = 512;
inline constexpr uint32_t kMaxPools = 64;
inline constexpr size_t kNameLen = 64;
// The last error's text: at most 95 characters and a NUL, kept in words so
// the seqlock's readers and writers never race on plain bytes.
inline constexpr size_t kErrorLen = 96;
inline constexpr size_t kErrorWords = kErrorLen / sizeof(uint64_t);

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
  std::atomic<uint32_t> slot_count;  // slots in use: proxy workers first, then the prober
  std::atomic<int64_t> started_ms;   // CLOCK_REALTIME of the master's start
  std::atomic<uint32_t> pool_count;
  std::atomic<uint32_t> generation;  // the generation that accepts new connections
  // Reloads (SIGHUP): counted by the master; `draining` is the number of old
  // generations still holding sessions.
  std::atomic<uint64_t> reloads_ok;
  std::atomic<uint64_t> reloads_failed;
  std::atomic<uint32_t> draining_generations;
  std::atomic<uint32_t> stream_set;  // which stream segment is current (StreamSegment::name_for)
};

// `removed`: gone from the config by a reload; drained like `draining`, and
// never routable again unless a later reload adds it back.
enum class BackendState : uint32_t { up = 0, down = 1, draining = 2, removed = 3 };
enum class SlotRole : uint32_t { none = 0, proxy = 1, prober = 2, feeder = 3, admin = 4 };

struct BackendEntry {
  char pool[kNameLen];         // NUL-terminated
  char address[kNameLen];      // canonical "host:port"
  uint32_t pool_index;         // into Table::pools
  std::atomic<uint32_t> rise;  // good checks that bring it back up (a reload may change it)
  std::atomic<uint32_t> fall;  // failures in a row that take it down; 0 = no active checks
  std::atomic<uint32_t> weight;
  std::atomic<uint32_t> admin_state;              // BackendState: up or draining, set by operators
  std::atomic<int64_t> down_until_ms;             // CLOCK_MONOTONIC ms; passive health without checks
  std::atomic<uint32_t> consecutive_failures;     // checks and passive failures
  std::atomic<uint64_t> failures_total;           // passive failures
  std::atomic<uint32_t> health;                   // BackendState up or down; starts up
  std::atomic<uint32_t> consecutive_ok;           // good checks in a row
  std::atomic<uint32_t> state_changes;            // bumped on every up<->down transition of `health`
  std::atomic<uint32_t> error_seq;                // seqlock over last_error: odd while written
  std::atomic<int64_t> rtt_us;                    // last good check, connect to pong; -1 = none yet
  std::atomic<int64_t> last_check_ms;             // CLOCK_MONOTONIC ms the last check ended; 0 = none
  std::atomic<int64_t> up_since_ms;               // CLOCK_MONOTONIC ms it last became routable; 0 = since start
  std::atomic<uint64_t> last_error[kErrorWords];  // NUL-terminated text, bytes in memory order
};

// Per pool: its name and a GCRA rate limiter for backend handshakes shared by
// every worker. tat_ns is the limiter's theoretical arrival time in
// CLOCK_MONOTONIC nanoseconds (nanoseconds, not microseconds, so that a rate
// like 300000/s does not round its emission interval of 3.33 us by a tenth).
struct PoolEntry {
  char name[kNameLen];
  std::atomic<int64_t> tat_ns;
};

struct WorkerSlot {
  std::atomic<int32_t> pid;    // 0 = empty
  std::atomic<uint32_t> role;  // SlotRole
  std::atomic<uint32_t> generation;
  std::atomic<uint32_t> connections;  // client connections this process holds
  std::atomic<uint64_t> respawns;     // times the master refilled this slot
  // CLOCK_MONOTONIC ms at which a draining process (an old generation after a
  // reload, or every worker after SIGQUIT) closes what is left with 1001;
  // written by the master before it signals, moved earlier to shorten a drain.
  std::atomic<int64_t> drain_deadline_ms;
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
  PoolEntry pools[kMaxPools];
  MetricsRow metrics[kMaxSlots];  // shm/metrics_layout.h: never zeroed by the master
  IpTableLayout ips;              // shm/ip_table_layout.h: per-client-IP limits
  ControlLayout control;          // shm/control_layout.h: drains and rebalances
  CertificateList certificates;   // shm/certificate_list.h: what the TLS listeners serve
};

static_assert(std::atomic<int32_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<Table>);
static_assert(kMaxBackendsInMetrics == kMaxBackends);
static_assert(offsetof(Header, prefix) == 0);
static_assert(sizeof(Prefix) == 32, "the prefix is shared by every layout version");
static_assert(kErrorLen % sizeof(uint64_t) == 0, "last_error is whole words");

}  // namespace wsgate::shm
