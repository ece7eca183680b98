// CLOCK_MONOTONIC, the one clock every process of an instance shares: a
// deadline or a limiter's arrival time written by one process means the same
// to the others.
#pragma once

#include <cstdint>

namespace wsgate::shm {

int64_t monotonic_ms();
int64_t monotonic_us();
int64_t monotonic_ns();

}  // namespace wsgate::shm
