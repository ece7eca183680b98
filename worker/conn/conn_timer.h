// The one uv timer a client connection owns, serving one phase at a time
// (handshake_timeout, a dial, close_timeout, keep-alive, ...): arming it for
// a phase names what runs when it fires. One handle per connection, however
// many phases it goes through.
#pragma once

#include <uv.h>

#include <cstdint>

#include "conf/config.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

// `Owner` gets on_timer_due() when the timer fires and decides there whether
// the pending action may still run (fire()).
template <class Owner>
class ConnTimer {
 public:
  using Action = void (*)(Owner&);

  // False when uv_timer_init failed (the owner cannot work without it).
  bool init(uv_loop_t* loop, Owner& owner) { return timer_.init(uv_timer_init, loop, &owner) == 0; }
  bool ready() const { return timer_.is_initialized(); }

  void arm(conf::Duration d, Action on_fire) {
    action_ = on_fire;
    uv_timer_start(timer_.get(), &ConnTimer::on_timer, static_cast<uint64_t>(d.count()), 0);
  }
  void stop() { uv_timer_stop(timer_.get()); }
  // What runs when it fires (null: nothing is pending).
  Action action() const { return action_; }
  void forget() { action_ = nullptr; }
  void fire(Owner& owner) {
    if (action_ != nullptr) {
      action_(owner);
    }
  }

 private:
  static void on_timer(uv_timer_t* t) {
    if (auto* owner = static_cast<Owner*>(t->data)) {
      owner->on_timer_due();
    }
  }

  UvHandle<uv_timer_t> timer_;
  Action action_ = nullptr;
};

}  // namespace wsgate::worker
