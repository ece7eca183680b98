#include "shm/clock.h"

#include <time.h>

namespace wsgate::shm {

namespace {
timespec now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts;
}
}  // namespace

int64_t monotonic_ms() {
  const timespec ts = now();
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_us() {
  const timespec ts = now();
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonic_ns() {
  const timespec ts = now();
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace wsgate::shm
