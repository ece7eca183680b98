#include "shm/handshake_limiter.h"

#include <algorithm>
#include <cassert>

#include "shm/gcra.h"

namespace wsgate::shm {

bool HandshakeLimiter::admit(uint32_t pool_index, uint32_t rate_per_s, int64_t now_us) {
  if (rate_per_s == 0) {
    return true;
  }
  assert(pool_index < kMaxPools && rate_per_s <= 1000000000);
  // The emission interval is rounded up: never above the rate; at most one
  // part in a thousand below it for rates (<= 1000000/s) that do not divide
  // a second evenly.
  const Gcra g = Gcra::per_second(rate_per_s, std::max<uint32_t>(1, rate_per_s / 10));
  return gcra_admit(t_->pools[pool_index].tat_ns, g, now_us * 1000);
}

}  // namespace wsgate::shm
