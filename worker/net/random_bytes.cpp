#include "worker/net/random_bytes.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "worker/log/log.h"

namespace wsgate::worker {

namespace {
// Per process: a forked child must never hand out its parent's bytes. The
// pool is emptied in the child at fork() (pthread_atfork) rather than by
// comparing getpid() on every call: that was one system call per frame sent.
struct Pool {
  uint8_t bytes[4096];
  size_t left = 0;
};
Pool g_pool;

void empty_pool_in_child() { g_pool.left = 0; }

const bool g_registered = [] {
  pthread_atfork(nullptr, nullptr, &empty_pool_in_child);
  return true;
}();

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
