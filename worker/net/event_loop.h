// A role's libuv loop (proxy worker, prober, feeder, admin). Declared before
// the members that own its handles, it is destroyed after them: it then runs
// the loop until their close callbacks have freed every handle, and closes it.
#pragma once

#include <uv.h>

namespace wsgate::worker {

class EventLoop {
 public:
  EventLoop() = default;
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // uv_loop_init(); false (and logged) when it failed.
  bool init();
  uv_loop_t* get() { return &loop_; }

 private:
  uv_loop_t loop_{};
  bool ok_ = false;
};

}  // namespace wsgate::worker
