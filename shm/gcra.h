// GCRA (the ATM virtual-scheduling form of a token bucket) on one shared
// word: the theoretical arrival time `tat`, in CLOCK_MONOTONIC nanoseconds.
// One CAS per admission, nothing held, so no process can die holding it; any
// number of processes share one limiter by sharing the word.
#pragma once

#include <atomic>
#include <cstdint>

#include "shm/clock.h"

namespace wsgate::shm {

struct Gcra {
  int64_t interval_ns = 0;   // 1e9 / rate, rounded up: never above the rate
  int64_t tolerance_ns = 0;  // how far tat may run ahead of now: (burst - 1) * interval

  // `rate_per_s` admissions a second on average, `burst` (>= 1) at once.
  static Gcra per_second(uint32_t rate_per_s, uint32_t burst);
};

// Admits one event at `now_ns` and moves tat on, or refuses it. On refusal,
// `*wait_ns` (when given) is how long until one would be admitted.
bool gcra_admit(std::atomic<int64_t>& tat, const Gcra& g, int64_t now_ns, int64_t* wait_ns = nullptr);

}  // namespace wsgate::shm
