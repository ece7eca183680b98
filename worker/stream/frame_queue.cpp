#include "worker/stream/frame_queue.h"

#include <algorithm>

namespace wsgate::worker {

namespace {
// One system call carries at most this many frames; more wait for the next.
constexpr size_t kMaxBufs = 64;
}  // namespace

// Holds its own references, so the bytes a write points at outlive the queue
// if the subscriber is destroyed with the write still in the kernel's hands.
struct FrameQueue::WriteReq {
  uv_write_t req{};
  FrameQueue* owner = nullptr;
  std::vector<FrameRef> hold;
  size_t items = 0;
};

FrameQueue::FrameQueue(uv_stream_t* stream, uint64_t limit, void (*event)(void*, int), void* user)
    : stream_(stream), limit_(limit), event_(event), user_(user) {}

FrameQueue::~FrameQueue() {
  if (write_ != nullptr) {
    write_->owner = nullptr;
  }
}

bool FrameQueue::push(FrameRef frame, bool must) {
  if (!must && bytes_ + frame->size() > limit_) {
    return false;
  }
  bytes_ += frame->size();
  items_.push_back(Item{std::move(frame), !must});
  return true;
}

size_t FrameQueue::drop_oldest(uint64_t need) {
  // Items a write has started on stay; the rest go oldest first.
  size_t first = head_ + std::max<size_t>(in_flight_, offset_ > 0 ? 1 : 0);
  size_t dropped = 0;
  const auto begin = items_.begin() + static_cast<std::ptrdiff_t>(std::min(first, items_.size()));
  for (auto it = begin; it != items_.end() && bytes_ + need > limit_; ++it) {
    if (it->droppable) {
      bytes_ -= it->frame->size();
      it->frame.reset();
      ++dropped;
    }
  }
  if (dropped > 0) {
    items_.erase(std::remove_if(begin, items_.end(), [](const Item& i) { return !i.frame; }), items_.end());
  }
  return dropped;
}

void FrameQueue::pop_front() {
  bytes_ -= items_[head_].frame->size() - offset_;
  items_[head_].frame.reset();
  offset_ = 0;
  if (++head_ == items_.size()) {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) {
      items_.shrink_to_fit();  // a burst's queue is not kept by an idle subscriber
    }
  }
}

int FrameQueue::flush() {
  while (write_ == nullptr && error_ == 0 && !empty()) {
    uv_buf_t bufs[kMaxBufs];
    size_t n = std::min(kMaxBufs, items_.size() - head_);
    for (size_t i = 0; i < n; ++i) {
      const std::string& f = *items_[head_ + i].frame;
      size_t skip = i == 0 ? offset_ : 0;
      bufs[i] = uv_buf_init(const_cast<char*>(f.data() + skip), static_cast<unsigned>(f.size() - skip));
    }
    int r = uv_try_write(stream_, bufs, static_cast<unsigned>(n));
    size_t written = r > 0 ? static_cast<size_t>(r) : 0;
    if (r < 0 && r != UV_EAGAIN) {
      error_ = r;
      return r;
    }
    size_t i = 0;
    while (i < n && written >= bufs[i].len) {
      written -= bufs[i].len;
      pop_front();
      ++i;
    }
    if (i == n) {
      continue;  // all taken: more may be queued beyond kMaxBufs
    }
    offset_ += written;
    bytes_ -= written;
    bufs[i].base += written;
    bufs[i].len -= static_cast<unsigned>(written);
    auto req = std::make_unique<WriteReq>();
    req->owner = this;
    req->items = n - i;
    for (size_t k = i; k < n; ++k) {
      req->hold.push_back(items_[head_ + (k - i)].frame);
    }
    int w = uv_write(&req->req, stream_, bufs + i, static_cast<unsigned>(n - i), &FrameQueue::on_write);
    if (w != 0) {
      error_ = w;
      return w;
    }
    in_flight_ = req->items;
    write_ = req.release();  // libuv's until on_write
    return 0;
  }
  return error_;
}

void FrameQueue::on_write(uv_write_t* raw, int status) {
  std::unique_ptr<WriteReq> req(reinterpret_cast<WriteReq*>(raw));
  if (req->owner != nullptr) {
    req->owner->completed(req->items, status);
  }
}

void FrameQueue::completed(size_t n_items, int status) {
  write_ = nullptr;
  in_flight_ = 0;
  if (status == 0) {
    for (size_t i = 0; i < n_items && !empty(); ++i) {
      pop_front();
    }
    status = flush();
  } else {
    error_ = status;
  }
  if (status != 0 || (write_ == nullptr && empty())) {
    event_(user_, status);
  }
}

}  // namespace wsgate::worker
