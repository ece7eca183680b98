#include "shm/channel_ring.h"

#include <atomic>
#include <cstring>
#include <vector>

namespace wsgate::shm {

namespace {

constexpr uint64_t kHeader = sizeof(RecordHeader);

uint64_t pad8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

}  // namespace

uint64_t max_record_payload(uint64_t ring_size) { return ring_size / 4 - kHeader; }

void RingWriter::reset() {
  e_->head.store(0, std::memory_order_relaxed);
  e_->tail.store(0, std::memory_order_relaxed);
  e_->next_seq.store(1, std::memory_order_release);
}

void RingWriter::put(uint64_t pos, const void* data, size_t n) { std::memcpy(ring_ + pos % e_->ring_size, data, n); }

// Moves the tail past whole records until [tail, end) fits in the ring. Only
// the writer walks these records, and they are its own: always consistent.
void RingWriter::make_room(uint64_t end) {
  const uint64_t size = e_->ring_size;
  uint64_t tail = e_->tail.load(std::memory_order_relaxed);
  const uint64_t old_tail = tail;
  while (end - tail > size) {
    const uint64_t left = size - tail % size;
    if (left < kHeader) {
      tail += left;
      continue;
    }
    RecordHeader h;
    std::memcpy(&h, ring_ + tail % size, kHeader);
    tail += h.kind == static_cast<uint32_t>(RecordKind::pad) ? left : kHeader + pad8(h.length);
  }
  if (tail != old_tail) {
    e_->tail.store(tail, std::memory_order_relaxed);
    // Readers must see the new tail before any of the bytes written next.
    std::atomic_thread_fence(std::memory_order_release);
  }
}

bool RingWriter::append(std::span<const uint8_t> head, std::span<const uint8_t> body) {
  const uint64_t size = e_->ring_size;
  const uint64_t length = head.size() + body.size();
  if (length > max_record_payload(size)) {
    e_->oversize.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const uint64_t need = kHeader + pad8(length);
  uint64_t pos = e_->head.load(std::memory_order_relaxed);
  const uint64_t seq = e_->next_seq.load(std::memory_order_relaxed);
  const uint64_t left = size - pos % size;
  const bool wrap = need > left;
  make_room(pos + (wrap ? left : 0) + need);
  if (wrap) {
    if (left >= kHeader) {
      RecordHeader pad{seq, 0, static_cast<uint32_t>(RecordKind::pad)};
      put(pos, &pad, kHeader);
    }
    pos += left;
  }
  RecordHeader h{seq, static_cast<uint32_t>(length), static_cast<uint32_t>(RecordKind::frame)};
  put(pos, &h, kHeader);
  if (!head.empty()) {
    std::memcpy(ring_ + pos % size + kHeader, head.data(), head.size());
  }
  if (!body.empty()) {
    std::memcpy(ring_ + pos % size + kHeader + head.size(), body.data(), body.size());
  }
  e_->next_seq.store(seq + 1, std::memory_order_relaxed);
  e_->messages_in.fetch_add(1, std::memory_order_relaxed);
  e_->bytes_in.fetch_add(length, std::memory_order_relaxed);
  e_->head.store(pos + need, std::memory_order_release);
  return true;
}

RingReader::Result RingReader::next(RingCursor& c, std::string& out) const {
  const uint64_t size = e_->ring_size;
  RingCursor at = c;
  for (;;) {
    const uint64_t head = e_->head.load(std::memory_order_acquire);
    if (at.pos >= head) {
      return Result::empty;  // `c` may stand before a gap: keep it there
    }
    const uint64_t left = size - at.pos % size;
    const uint64_t tail = e_->tail.load(std::memory_order_acquire);
    if (tail > at.pos) {
      // The writer reclaims the gap or pad at a lap's end together with the
      // records before it. A cursor waiting there lost nothing if the record
      // at the next lap's start is the one it expects (its seq says so).
      if (tail != at.pos + left || at.seq == 0) {
        return Result::lapped;
      }
      at.pos = tail;
      continue;
    }
    if (left < kHeader) {
      at.pos += left;
      continue;
    }
    RecordHeader h;
    std::memcpy(&h, ring_ + at.pos % size, kHeader);
    const bool pad = h.kind == static_cast<uint32_t>(RecordKind::pad);
    const bool fits = pad || kHeader + pad8(h.length) <= left;
    if (fits && !pad) {
      out.assign(reinterpret_cast<const char*>(ring_ + at.pos % size + kHeader), h.length);
    }
    // The copy is good only if the writer had not moved the tail past it.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e_->tail.load(std::memory_order_relaxed) > at.pos || !fits || (at.seq != 0 && h.seq != at.seq)) {
      // A torn header reads as nonsense; the tail check above says which. A
      // record of another seq at an intact position means this cursor is not
      // from this ring's life (a channel reclaimed): the same answer applies.
      return Result::lapped;
    }
    if (pad) {
      at.pos += left;
      at.seq = h.seq;  // a pad carries the seq of the record after it
      continue;
    }
    at.pos += kHeader + pad8(h.length);
    at.seq = h.seq + 1;
    c = at;
    return Result::record;
  }
}

RingCursor RingReader::at_head() const {
  // head and next_seq are two stores: no read of both is sure to be a pair.
  // seq 0 lets the next record say its own seq instead.
  return RingCursor{e_->head.load(std::memory_order_acquire), 0};
}

RingCursor RingReader::at_tail() const {
  const uint64_t size = e_->ring_size;
  for (;;) {
    const RingCursor head = at_head();
    uint64_t pos = e_->tail.load(std::memory_order_acquire);
    if (pos >= head.pos) {
      return head;
    }
    const uint64_t left = size - pos % size;
    RecordHeader h{};
    if (left >= kHeader) {
      std::memcpy(&h, ring_ + pos % size, kHeader);
    } else {
      // The record after the gap starts the ring; its header says its seq.
      std::memcpy(&h, ring_, kHeader);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e_->tail.load(std::memory_order_relaxed) == pos) {
      return RingCursor{pos, h.seq};
    }
  }
}

RingCursor RingReader::back(uint32_t n) const {
  if (n == 0) {
    return at_head();
  }
  for (;;) {
    RingCursor c = at_tail();
    std::vector<RingCursor> last;  // the positions of the last n records seen
    last.reserve(n);
    size_t oldest = 0;
    std::string scratch;
    Result r;
    for (;;) {
      RingCursor before = c;
      r = next(c, scratch);
      if (r != Result::record) {
        break;
      }
      if (last.size() < n) {
        last.push_back(before);
      } else {
        last[oldest] = before;
        oldest = (oldest + 1) % n;
      }
    }
    if (r == Result::empty) {
      return last.empty() ? c : last[last.size() < n ? 0 : oldest];
    }
    // Lapped while walking (a burst): start over from the new tail.
  }
}

}  // namespace wsgate::shm
