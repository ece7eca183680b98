#include "worker/net/stop_signals.h"

#include <signal.h>

#include <cstring>

#include "worker/log/log.h"

namespace wsgate::worker {

bool StopSignals::start(uv_loop_t* loop, int master_alive_fd, OnStop on_stop, OnRetire on_retire) {
  on_stop_ = std::move(on_stop);
  on_retire_ = std::move(on_retire);
  return watch_signal(loop, sigterm_, SIGTERM) && watch_signal(loop, sigint_, SIGINT) &&
         (!on_retire_ || watch_signal(loop, sigquit_, SIGQUIT)) &&
         (master_alive_fd < 0 || watch_master(loop, master_alive_fd));
}

bool StopSignals::watch_signal(uv_loop_t* loop, UvHandle<uv_signal_t>& h, int signum) {
  int r = h.init(uv_signal_init, loop, this);
  if (r == 0) {
    r = uv_signal_start(h.get(), &StopSignals::on_signal, signum);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch signal %s (%s)", strsignal(signum), log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

bool StopSignals::watch_master(uv_loop_t* loop, int fd) {
  int r = master_watch_.init(uv_pipe_init, loop, this, 0);
  if (r == 0) {
    r = uv_pipe_open(master_watch_.get(), fd);
  }
  if (r == 0) {
    r = uv_read_start(
        master_watch_.stream(),
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          static char sink[64];  // the master never writes; this only sees EOF
          *b = uv_buf_init(sink, sizeof sink);
        },
        &StopSignals::on_master_read);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch the master (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void StopSignals::on_signal(uv_signal_t* h, int signum) {
  auto* self = static_cast<StopSignals*>(h->data);
  if (self == nullptr) {
    return;
  }
  if (signum == SIGQUIT) {
    self->on_retire_();
    return;
  }
  self->on_stop_(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void StopSignals::on_master_read(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
  auto* self = static_cast<StopSignals*>(s->data);
  if (self != nullptr && n < 0) {
    uv_read_stop(s);
    self->on_stop_(kMasterGone);
  }
}

void StopSignals::close() {
  sigterm_.close();
  sigint_.close();
  sigquit_.close();
  master_watch_.close();
}

}  // namespace wsgate::worker
