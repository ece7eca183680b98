// Output buffers are taken from a per-worker free list while data flows and
// given back as soon as a connection's queue is empty, so an idle session
// holds no buffer at all and a busy one does not malloc per message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsgate::worker {

using Bytes = std::vector<uint8_t>;

class BufferPool {
 public:
  Bytes take();
  void give(Bytes&& b);
  size_t free_count() const { return free_.size(); }

 private:
  static constexpr size_t kInitialCapacity = 16 * 1024;
  static constexpr size_t kMaxKeptCapacity = 1024 * 1024;  // larger ones go back to malloc
  static constexpr size_t kMaxFree = 256;                  // bounds what an idle worker keeps
  std::vector<Bytes> free_;
};

}  // namespace wsgate::worker
