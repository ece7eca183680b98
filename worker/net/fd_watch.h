// Running out of file descriptors, said in the log. At EMFILE or ENFILE
// libuv's accept closes every connection waiting in the queue (it frees a
// reserve fd, accepts and closes them, and takes the reserve back) and tells
// the role nothing: clients see resets and, without this, the log says
// nothing at all. So every role probes once a second whether one more fd can
// be had and, while it cannot, warns naming the limit — the first time at
// once, then at most every kFdWarnEveryMs with how many probes failed since.
#pragma once

#include <uv.h>

#include <cstdint>

#include "worker/net/uv_handle.h"

namespace wsgate::worker {

inline constexpr uint64_t kFdProbeEveryMs = 1000;
inline constexpr uint64_t kFdWarnEveryMs = 10000;

// At most one line per `every_ms`; the lines in between are counted, so the
// next one can say how many were left out.
class RateLimit {
 public:
  explicit RateLimit(uint64_t every_ms) : every_ms_(every_ms) {}
  // True when a line may be written at `now_ms`; then suppressed() is the
  // count left out before it.
  bool allow(uint64_t now_ms);
  uint64_t suppressed() const { return suppressed_; }

 private:
  uint64_t every_ms_;
  uint64_t last_ms_ = 0;
  bool ever_ = false;
  uint64_t skipped_ = 0;     // since the last line written
  uint64_t suppressed_ = 0;  // what skipped_ was when allow() last said yes
};

class FdWatch {
 public:
  // False, with the cause logged, when the timer cannot be set up.
  bool start(uv_loop_t* loop);
  void close();

  // The accept callbacks' error path (status != 0): the same warning, rate
  // limited, so a storm of failed accepts is a line every few seconds.
  static void accept_failed(uv_loop_t* loop, int uv_status, const char* what);

 private:
  static void on_probe(uv_timer_t* t);

  UvHandle<uv_timer_t> timer_;
  RateLimit warn_{kFdWarnEveryMs};
};

}  // namespace wsgate::worker
