// Backend handshakes of a pool, over all workers: one GCRA word per pool
// (shm/layout.h PoolEntry::tat_ns), so every worker shares the pool's rate.
#pragma once

#include <cstdint>

#include "shm/layout.h"

namespace wsgate::shm {

class HandshakeLimiter {
 public:
  explicit HandshakeLimiter(Table& table) : t_(&table) {}

  // Admits `rate_per_s` on average with bursts of max(1, rate/10); false when
  // over the rate. rate 0 admits everything. Lock-free (one CAS).
  bool admit(uint32_t pool_index, uint32_t rate_per_s, int64_t now_us);

 private:
  Table* t_;
};

}  // namespace wsgate::shm
