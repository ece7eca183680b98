// Connections with a side that is not read (backpressure: the other side's
// output is full), checked once a second. Not reading a socket also means
// not seeing its FIN, its reset or its silence, so without this a client that
// floods a backend that does not read, then leaves, would keep its session,
// both sockets and their buffers until that backend reads. One timer for the
// worker, running only while something is paused; the check itself belongs to
// the owner (worker/proxy/session.cpp: on_paused_check).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "conf/config.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

inline constexpr conf::Duration kPausedCheck = std::chrono::seconds(1);

class PausedWatch {
 public:
  // What the watch keeps per paused connection, for its owner.
  struct Entry {
    uint64_t progress_ms = 0;  // when the other side was last seen reading
    uint64_t acked = 0;        // its bytes_acked then
  };
  class Watched {
   public:
    virtual void on_paused_check(Entry& e, uint64_t now_ms) = 0;

   protected:
    ~Watched() = default;
  };

  // Starts watching `w` (again: no change); the timer starts with the first.
  void add(uv_loop_t* loop, Watched& w);
  void remove(Watched& w);
  size_t size() const { return watched_.size(); }

 private:
  static void on_tick(uv_timer_t* t);

  std::unordered_map<Watched*, Entry> watched_;
  UvHandle<uv_timer_t> timer_;
};

}  // namespace wsgate::worker
