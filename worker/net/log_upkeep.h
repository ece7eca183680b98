// A worker process's part in keeping its log files: SIGUSR1 reopens them
// (logrotate renamed them; the master forwards the signal to every child),
// and a one-second timer writes the access log's buffered lines, so a quiet
// worker's lines are never more than a second late. Every role process runs
// one on its loop: without it SIGUSR1's default action would kill it.
#pragma once

#include <uv.h>

#include "worker/net/uv_handle.h"

namespace wsgate::worker {

class LogUpkeep {
 public:
  // False, with the cause logged, when a handle cannot be set up.
  bool start(uv_loop_t* loop);
  // Flushes what is buffered and closes the handles so the loop can end.
  void close();

 private:
  static void on_sigusr1(uv_signal_t* h, int signum);
  static void on_flush_due(uv_timer_t* t);

  UvHandle<uv_signal_t> sigusr1_;
  UvHandle<uv_timer_t> flush_timer_;
};

}  // namespace wsgate::worker
