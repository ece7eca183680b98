// The per-client-IP table in shared memory (limits.max_connections_per_ip,
// limits.handshake_rate_per_ip): plain types only, like shm/layout.h, which
// holds one of these in its Table. shm/ip_table.h has the operations.
//
// Ownership of writes:
//   IpEntry::state, key        -> any worker, by CAS on state (claim, evict)
//   IpEntry::tat_ns            -> any worker holding the entry, by CAS (GCRA)
//   IpEntry::conns[i]          -> the process in slot i; the master zeroes
//                                 column i when that process has died, so a
//                                 worker killed with -9 leaks no counts
//   IpTableLayout counters     -> any worker (relaxed adds)
//   IpTableLayout::seed        -> the first worker to use the table (CAS from 0)
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace wsgate::shm {

// Open addressing with linear probing over a fixed table. 16384 entries
// hold that many distinct client addresses with connections open or a
// handshake rate still in force; idle entries are reused. Past that (or
// past kIpMaxProbe entries from an address's home) the address is let in
// unlimited and IpTableLayout::full_total counts it: fail open, since a
// full table is an attack on the table, and refusing everyone would finish it.
inline constexpr uint32_t kIpEntries = 16384;
inline constexpr uint32_t kIpMaxProbe = 32;
// Columns of IpEntry::conns: one per worker slot (shm/layout.h kMaxSlots).
inline constexpr uint32_t kIpSlots = 128;

// IpEntry::state: the phase in the low 3 bits, the slot that set it in the
// next 8 (so the master can undo a claim or an eviction its process died
// inside), and a generation above them, bumped by every claim so a reader
// can tell the same entry from one reused for another address.
enum class IpPhase : uint32_t {
  empty = 0,     // never used: a probe for any address ends here
  free = 1,      // evicted: reusable, but probes go on past it
  writing = 2,   // being claimed; its key is not readable yet
  live = 3,      // key valid
  evicting = 4,  // live and idle, being checked one last time before it is freed
};

struct IpEntry {
  std::atomic<uint32_t> state;
  uint32_t reserved;
  // IPv4 as an IPv4-mapped IPv6 address; IPv6 by its /64 prefix (word 0),
  // since one subscriber or host holds a whole /64.
  std::atomic<uint64_t> key[2];
  std::atomic<int64_t> tat_ns;            // handshake_rate_per_ip GCRA, CLOCK_MONOTONIC ns
  std::atomic<uint16_t> conns[kIpSlots];  // open connections per worker slot
};

struct IpTableLayout {
  std::atomic<uint64_t> seed;                 // hash seed; 0 until first use
  std::atomic<uint64_t> full_total;           // admissions let through untracked: no entry free
  std::atomic<uint64_t> refused_connections;  // answered 503: max_connections_per_ip
  std::atomic<uint64_t> refused_rate;         // answered 429: handshake_rate_per_ip
  std::atomic<uint64_t> evictions;            // idle entries freed for a new address
  IpEntry entries[kIpEntries];
};

static_assert(std::atomic<uint16_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<IpTableLayout>);
static_assert((kIpEntries & (kIpEntries - 1)) == 0, "probing masks with kIpEntries - 1");

}  // namespace wsgate::shm
