#include "worker/random_bytes.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "worker/log.h"

namespace wsgate::worker {

namespace {
// Per process: after fork() each worker refills its own block, so no two
// processes ever hand out the same bytes.
struct Pool {
  uint8_t bytes[4096];
  size_t left = 0;
  int pid = 0;
};
thread_local Pool g_pool;

void refill(Pool& p) {
  size_t got = 0;
  while (got < sizeof p.bytes) {
    ssize_t r = getrandom(p.bytes + got, sizeof p.bytes - got, 0);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      // Without entropy wsgate cannot mask frames safely; this is not a peer error.
      LOG_ERROR("getrandom() failed (%d: %s) while refilling the mask pool", errno, strerror(errno));
      std::abort();
    }
    got += static_cast<size_t>(r);
  }
  p.left = sizeof p.bytes;
}
}  // namespace

void fill_random(uint8_t* out, size_t len) {
  Pool& p = g_pool;
  int pid = getpid();
  if (p.pid != pid) {
    p.pid = pid;
    p.left = 0;
  }
  while (len > 0) {
    if (p.left == 0) {
      refill(p);
    }
    size_t n = len < p.left ? len : p.left;
    std::memcpy(out, p.bytes + sizeof p.bytes - p.left, n);
    std::memset(p.bytes + sizeof p.bytes - p.left, 0, n);  // never hand out the same bytes twice
    p.left -= n;
    out += n;
    len -= n;
  }
}

}  // namespace wsgate::worker
