#include "shm/gcra.h"

#include <algorithm>

namespace wsgate::shm {

Gcra Gcra::per_second(uint32_t rate_per_s, uint32_t burst) {
  const int64_t rate = std::max<uint32_t>(rate_per_s, 1);
  Gcra g;
  g.interval_ns = (1000000000 + rate - 1) / rate;
  g.tolerance_ns = (static_cast<int64_t>(std::max<uint32_t>(burst, 1)) - 1) * g.interval_ns;
  return g;
}

bool gcra_admit(std::atomic<int64_t>& tat, const Gcra& g, int64_t now_ns, int64_t* wait_ns) {
  int64_t seen = tat.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t base = std::max(seen, now_ns);
    if (base - now_ns > g.tolerance_ns) {
      if (wait_ns != nullptr) {
        *wait_ns = base - now_ns - g.tolerance_ns;
      }
      return false;
    }
    if (tat.compare_exchange_weak(seen, base + g.interval_ns, std::memory_order_relaxed, std::memory_order_relaxed)) {
      return true;
    }
  }
}

}  // namespace wsgate::shm
