#include "worker/net/log_upkeep.h"

#include <signal.h>

#include "worker/log/log.h"

namespace wsgate::worker {

namespace {
constexpr uint64_t kFlushEveryMs = 1000;
}

bool LogUpkeep::start(uv_loop_t* loop) {
  int r = sigusr1_.init(uv_signal_init, loop, this);
  if (r == 0) {
    r = uv_signal_start(sigusr1_.get(), &LogUpkeep::on_sigusr1, SIGUSR1);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch SIGUSR1 (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  r = flush_timer_.init(uv_timer_init, loop, this);
  if (r != 0) {
    LOG_ERROR("uv_timer_init() failed (%s) for the log flush", log::uv_error_text(r).c_str());
    return false;
  }
  uv_timer_start(flush_timer_.get(), &LogUpkeep::on_flush_due, kFlushEveryMs, kFlushEveryMs);
  // Neither handle may keep a stopping loop alive; close() still frees them.
  uv_unref(sigusr1_.base());
  uv_unref(flush_timer_.base());
  return true;
}

void LogUpkeep::close() {
  log::flush();
  sigusr1_.close();
  flush_timer_.close();
}

void LogUpkeep::on_sigusr1(uv_signal_t* h, int) {
  if (h->data != nullptr) {
    log::reopen();
  }
}

void LogUpkeep::on_flush_due(uv_timer_t* t) {
  if (t->data != nullptr) {
    log::flush();
  }
}

}  // namespace wsgate::worker
