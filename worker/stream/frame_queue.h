// A subscriber's output: shared, already-encoded frames queued by reference
// (a message fanned out to thousands of subscribers is one allocation, not
// one per subscriber), written with uv_try_write first and one uv_write in
// flight for what the socket did not take. Bounded in bytes by the stream's
// subscriber_queue; what happens past the bound is the caller's policy.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wsgate::worker {

using FrameRef = std::shared_ptr<const std::string>;

class FrameQueue {
 public:
  // Called back only from a write's completion, never from inside push() or
  // flush(): `event(user, 0)` when that emptied the queue, `event(user,
  // status)` when it failed.
  FrameQueue(uv_stream_t* stream, uint64_t limit, void (*event)(void* user, int status), void* user);
  ~FrameQueue();
  FrameQueue(const FrameQueue&) = delete;
  FrameQueue& operator=(const FrameQueue&) = delete;

  // Queues a frame. False (nothing queued) when it would pass the limit.
  // `must` frames (control frames, the 101, history) are always taken.
  bool push(FrameRef frame, bool must = false);
  // Drops queued data frames that no write has started, oldest first, until
  // `need` more bytes fit; returns how many frames it dropped.
  size_t drop_oldest(uint64_t need);
  // Starts writing what is queued (no-op while a write is in flight).
  // Returns 0, or the write error (sticky) that ends this connection.
  int flush();

  uint64_t queued_bytes() const { return bytes_; }
  bool empty() const { return items_.size() == head_; }
  bool failed() const { return error_ != 0; }
  int error() const { return error_; }
  uint64_t limit() const { return limit_; }

 private:
  struct Item {
    FrameRef frame;
    bool droppable;
  };
  struct WriteReq;
  static void on_write(uv_write_t* req, int status);
  void completed(size_t n_items, int status);
  void pop_front();

  uv_stream_t* stream_;
  uint64_t limit_;
  void (*event_)(void*, int);
  void* user_;
  std::vector<Item> items_;  // [head_, end) are queued; vector, not deque: an empty one costs nothing
  size_t head_ = 0;
  size_t offset_ = 0;     // bytes of items_[head_] already written
  size_t in_flight_ = 0;  // items (from head_) a uv_write holds; 0 = none
  uint64_t bytes_ = 0;    // unwritten bytes queued
  WriteReq* write_ = nullptr;
  int error_ = 0;
};

}  // namespace wsgate::worker
