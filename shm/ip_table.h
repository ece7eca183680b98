// Per-client-IP admission over all workers: open connections and a
// handshake rate per address, in the lock-free table of shm/ip_table_layout.h.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "shm/ip_table_layout.h"

namespace wsgate::shm {

struct IpKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const IpKey&) const = default;
};

// The key of a peer address: IPv4 (and IPv4-mapped IPv6) as the mapped
// address, IPv6 by its /64. nullopt for any other family.
std::optional<IpKey> ip_key_of(const sockaddr* addr);

struct IpLimits {
  uint32_t max_connections = 0;  // per address over all workers; 0 = off
  uint32_t rate_per_s = 0;       // handshakes per address per second; 0 = off
};

struct IpAdmission {
  enum class Verdict { admitted, over_connections, over_rate };
  Verdict verdict = Verdict::admitted;
  // The entry whose connection count this admission holds (release it when
  // the connection closes); nullopt when nothing is held: connection limit
  // off, or the table was full (fail open).
  std::optional<uint32_t> entry;
  bool untracked = false;      // admitted only because no entry was free
  int64_t retry_after_ns = 0;  // over_rate: until the rate admits one again
};

class IpTable {
 public:
  explicit IpTable(IpTableLayout& t) : t_(&t) {}

  // --- the process in `slot` ---
  // One new connection from `key` at `now_ns` (CLOCK_MONOTONIC): counted
  // against the connection limit, then against the handshake rate (burst:
  // one second's worth). Lock-free: a few CASes and seq_cst adds.
  // Two workers admitting the same address at its very last free connection
  // may both refuse (each sees the other's count); neither overshoots.
  IpAdmission admit(const IpKey& key, uint32_t slot, const IpLimits& limits, int64_t now_ns);
  // The connection an admission counted has closed.
  void release(uint32_t entry, uint32_t slot);

  // --- master, after the process in `slot` is gone ---
  // Zeroes its column, and undoes a claim or an eviction it died inside.
  void clear_slot(uint32_t slot);

  // --- readers ---
  int64_t connections(const IpKey& key) const;  // 0 when not in the table
  uint32_t live_entries() const;
  const IpTableLayout& layout() const { return *t_; }

 private:
  struct Found {
    uint32_t index;
    uint32_t state;  // the live state it was found in
  };
  std::optional<Found> find_or_claim(const IpKey& key, uint32_t slot, int64_t now_ns);
  std::optional<Found> find(const IpKey& key) const;
  bool try_evict(IpEntry& e, uint32_t live_state, uint32_t slot, int64_t now_ns);
  uint32_t home(const IpKey& key);
  IpTableLayout* t_;
};

}  // namespace wsgate::shm
