// One channel's ring: a single writer (the feeder) appends encoded frames,
// any number of readers (proxy workers) copy them out. No locks: the writer
// moves `tail` past the records it is about to overwrite *before* writing,
// and a reader checks `tail` *after* copying (a seqlock's read side), so a
// reader that was lapped learns it instead of handing out garbage.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "shm/stream_layout.h"

namespace wsgate::shm {

// The largest frame a ring of `ring_size` bytes accepts: a quarter, so one
// record never evicts more than a small part of what readers have not read.
uint64_t max_record_payload(uint64_t ring_size);

class RingWriter {
 public:
  RingWriter(ChannelEntry& entry, uint8_t* ring) : e_(&entry), ring_(ring) {}

  // Starts an empty ring for a newly claimed channel (nobody reads it yet).
  void reset();
  // Appends one record made of `head` then `body` (a frame header and its
  // payload, so neither is copied twice). False when it is over
  // max_record_payload (counted in `oversize`, nothing written).
  bool append(std::span<const uint8_t> head, std::span<const uint8_t> body);

 private:
  void make_room(uint64_t end);
  void put(uint64_t pos, const void* data, size_t n);

  ChannelEntry* e_;
  uint8_t* ring_;
};

// Where a reader is: the next record's position and the seq it must carry
// (0: not known yet; the next record's own seq is taken).
struct RingCursor {
  uint64_t pos = 0;
  uint64_t seq = 1;
};

class RingReader {
 public:
  RingReader(const ChannelEntry& entry, const uint8_t* ring) : e_(&entry), ring_(ring) {}

  enum class Result { record, empty, lapped };
  // Copies the record at `c` into `out` and moves `c` past it. `lapped`: the
  // writer overwrote it before (or while) it was read; `c` is unchanged.
  // `empty`: nothing new; `c` is unchanged. `out` holds the record only on
  // `record`; after `lapped` its content is unspecified.
  Result next(RingCursor& c, std::string& out) const;
  // The position of the next record to be written, seq 0: a new reader
  // starts here.
  RingCursor at_head() const;
  // The oldest intact record, for a reader that was lapped.
  RingCursor at_tail() const;
  // The cursor `n` records back from the head (or the tail, if fewer are left),
  // for history replay.
  RingCursor back(uint32_t n) const;

 private:
  const ChannelEntry* e_;
  const uint8_t* ring_;
};

}  // namespace wsgate::shm
