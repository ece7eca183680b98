#include "worker/net/event_loop.h"

#include "worker/log/log.h"

namespace wsgate::worker {

bool EventLoop::init() {
  int r = uv_loop_init(&loop_);
  if (r != 0) {
    LOG_ERROR("uv_loop_init() failed (%s)", log::uv_error_text(r).c_str());
    return false;
  }
  ok_ = true;
  return true;
}

EventLoop::~EventLoop() {
  if (!ok_) {
    return;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks, which free the handles
  if (uv_loop_close(&loop_) != 0) {
    LOG_WARN("uv_loop_close() found handles still open at exit");
  }
}

}  // namespace wsgate::worker
