// A proxy worker's part in runtime control (shm/backend_control.h): every
// 100 ms it looks for drains and a rebalance in the shared table and moves
// its own relaying sessions off the backends concerned, taking each turn
// from the operation's shared pace, so all workers together keep the rate
// the operator asked for. Each move waits a random part of the tick
// (jitter), so moves are spread, not sent in bursts of one per tick.
#pragma once

#include <uv.h>

#include <cstdint>

#include "worker/conn/worker_context.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

class Drainer {
 public:
  // Starts polling; false (logged) when the timer cannot be set up.
  bool start(WorkerContext& ctx);
  // Stops polling and closes the timer; safe to call twice.
  void close();

 private:
  static void on_tick(uv_timer_t* t);
  void tick();
  void drain_backends(int64_t now_ns);
  void rebalance(int64_t now_ms, int64_t now_ns);
  // Moves up to `wanted` sessions off `backend` while `take_turn` allows; returns how many.
  template <class TakeTurn>
  int64_t move_sessions(uint32_t backend, int64_t wanted, TakeTurn take_turn);

  WorkerContext* ctx_ = nullptr;
  UvHandle<uv_timer_t> timer_;
};

}  // namespace wsgate::worker
