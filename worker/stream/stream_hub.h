// A proxy worker's side of the fan-out streams: counts its subscribers per
// channel in shm, wakes on its eventfd when the feeder appended, reads each
// new message from the ring once and hands the same encoded frame to every
// local subscriber of that channel.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "shm/channel_ring.h"
#include "shm/channel_table.h"
#include "worker/net/uv_handle.h"
#include "worker/stream/frame_queue.h"
#include "worker/ws/http_error.h"

namespace wsgate::worker {

// What the hub needs of a subscriber.
class StreamListener {
 public:
  // New messages, oldest first. False: the listener is done (slow policy:
  // close); the hub drops it from the channel and uncounts it at once.
  virtual bool on_stream_frames(const FrameRef* frames, size_t n) = 0;
  // This worker fell a whole ring behind and lost `missed` messages.
  // False as for on_stream_frames.
  virtual bool on_stream_gap(uint64_t missed) = 0;

  size_t hub_index = 0;  // its place in the channel's list, kept by the hub

 protected:
  ~StreamListener() = default;
};

struct StreamSetup {
  const conf::Config* config = nullptr;
  shm::StreamsHeader* header = nullptr;
  std::vector<shm::ChannelRange> ranges;
  uint32_t slot = 0;
  int wake_fd = -1;    // this worker's eventfd, written by the feeder
  int feeder_fd = -1;  // the feeder's eventfd: a channel got its first subscriber here
};

class StreamHub {
 public:
  StreamHub() = default;
  ~StreamHub();
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  // False, with the cause logged, when the wake handle cannot be set up.
  bool start(uv_loop_t* loop, StreamSetup setup);
  void close();

  // Counts a subscriber of `stream` on the channel for `path` in shm; a new
  // path is a channel claimed for `client_ip` (the numeric address). On
  // failure `err` holds the answer for the client (503: no free channel yet;
  // 429: the address has max_channels_per_ip channels in use).
  std::optional<shm::Joined> reserve(size_t stream, std::string_view path, std::string_view client_ip, HttpError& err);
  // Undoes reserve() for a subscriber that never attached.
  void unreserve(const shm::Joined& j);
  // Starts delivery to `l`: the channel's history first, then every new message.
  // Returns false if `l` gave up during the history (already uncounted).
  bool attach(StreamListener& l, const shm::Joined& j);
  // Stops delivery and uncounts (the listener leaves).
  void detach(StreamListener& l, const shm::Joined& j);

 private:
  struct Local {
    uint32_t epoch = 0;
    size_t stream = 0;
    shm::RingCursor cursor;
    std::vector<StreamListener*> listeners;
    std::deque<FrameRef> history;
  };
  static void on_wake(uv_poll_t* h, int status, int events);
  static void on_sweep(uv_timer_t* t);
  static void on_more(uv_idle_t* h);
  void read_rings();
  // Reads and delivers at most kBatch messages; true when more are waiting.
  bool read_ring(uint32_t channel, Local& l);
  void deliver(uint32_t channel, Local& l, const FrameRef* frames, size_t n);
  void gap(uint32_t channel, Local& l, uint64_t missed);
  void remove_at(uint32_t channel, Local& l, size_t i);
  template <class StillIn>
  void keep_if(uint32_t channel, Local& l, StillIn still_in);
  shm::RingReader reader(uint32_t channel) const;

  StreamSetup setup_;
  std::unordered_map<uint32_t, Local> locals_;
  UvHandle<uv_poll_t> wake_;
  UvHandle<uv_timer_t> sweep_;
  UvHandle<uv_idle_t> more_;  // a channel had more than one batch: go on next turn
  std::string scratch_;
  std::vector<FrameRef> batch_;
};

}  // namespace wsgate::worker
