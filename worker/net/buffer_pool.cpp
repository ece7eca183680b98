#include "worker/net/buffer_pool.h"

namespace wsgate::worker {

Bytes BufferPool::take() {
  if (free_.empty()) {
    Bytes b;
    b.reserve(kInitialCapacity);
    return b;
  }
  Bytes b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void BufferPool::give(Bytes&& b) {
  if (b.capacity() == 0 || b.capacity() > kMaxKeptCapacity || free_.size() >= kMaxFree) {
    Bytes gone = std::move(b);
    return;
  }
  b.clear();
  free_.push_back(std::move(b));
}

}  // namespace wsgate::worker
