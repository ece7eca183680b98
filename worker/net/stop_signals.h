// What tells a worker process to stop, as one event on its loop: SIGTERM,
// SIGINT, or EOF on the pipe whose write end only the master holds (the
// master died; PR_SET_PDEATHSIG is the other half of that guard). Signal
// handlers only wake the loop (libuv's self-pipe); the callback runs there.
// SIGQUIT asks a proxy worker to retire (stop accepting, let sessions end:
// a newer generation accepts now); a process without a retire callback
// ignores it.
#pragma once

#include <uv.h>

#include <functional>

#include "worker/net/uv_handle.h"

namespace wsgate::worker {

class StopSignals {
 public:
  using OnStop = std::function<void(const char* why)>;
  // The `why` of a stop because the master died: no one is left to respawn
  // or to wait for, so the process should be gone within a second.
  static constexpr const char* kMasterGone = "the master process is gone";
  using OnRetire = std::function<void()>;

  // `master_alive_fd` < 0: no master to watch (tests). Returns false, with
  // the cause logged, when a handle cannot be set up.
  bool start(uv_loop_t* loop, int master_alive_fd, OnStop on_stop, OnRetire on_retire = {});
  // Closes the handles so the loop can end; safe inside the callback.
  void close();

 private:
  bool watch_signal(uv_loop_t* loop, UvHandle<uv_signal_t>& h, int signum);
  bool watch_master(uv_loop_t* loop, int fd);
  static void on_signal(uv_signal_t* h, int signum);
  static void on_master_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);

  OnStop on_stop_;
  OnRetire on_retire_;
  UvHandle<uv_signal_t> sigterm_, sigint_, sigquit_;
  UvHandle<uv_pipe_t> master_watch_;
};

}  // namespace wsgate::worker
