// The fan-out streams' shared memory: a second segment, created by the master
// only when the config has streams, sized by it (the rings dominate), and
// laid out once: a header, one ChannelEntry per channel, then the rings.
//
// Ownership of writes:
//   header, ChannelEntry identity (stream, ring offset/size) -> the master
//   ChannelEntry::state/path/epoch/creator -> a proxy worker claiming a
//                                      per_path channel, or the feeder
//                                      freeing one, under claim_lock only
//   ChannelEntry::reclaim           -> set by a proxy worker under
//                                      claim_lock, cleared by the feeder
//   ChannelEntry ring fields (head, tail, next_seq), upstream status and
//   counters, the ring bytes          -> the feeder (single writer)
//   ChannelEntry::subscribers[slot]   -> the process in that slot; the master
//                                      zeroes it when that process died
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shm/layout.h"

namespace wsgate::shm {

inline constexpr uint64_t kStreamsMagic = 0x3130727473677377ULL;  // "wsgstr01" little-endian
inline constexpr uint32_t kStreamsLayoutVersion = 2;              // 2: ChannelEntry::reclaim, creator
inline constexpr uint32_t kMaxChannels = 256;
inline constexpr size_t kChannelPathLen = 256;  // a per_path channel's client path, NUL-terminated

enum class ChannelState : uint32_t { free = 0, active = 1 };
enum class UpstreamState : uint32_t { idle = 0, connecting = 1, up = 2, backoff = 3 };

// A ring record starts at an 8-byte aligned position: this header, then
// `length` bytes of an encoded WebSocket frame (server to client, unmasked),
// padded to 8. A record that would cross the ring's end is not split: a pad
// record (kind pad) fills the rest, or, when less than a header is left, the
// reader skips to the start by itself.
struct RecordHeader {
  uint64_t seq;
  uint32_t length;
  uint32_t kind;  // RecordKind
};
enum class RecordKind : uint32_t { frame = 0, pad = 1 };
static_assert(sizeof(RecordHeader) == 16);

struct ChannelEntry {
  char stream[kNameLen];  // the stream's name, for status
  uint32_t stream_index;  // into Config::streams
  // 1: a new path wants this subscriber-less per_path channel, so the feeder
  // closes its upstream and frees it now instead of after `linger`.
  std::atomic<uint32_t> reclaim;
  uint64_t ring_offset;         // from the segment's start
  uint64_t ring_size;           // bytes, a multiple of 8
  std::atomic<uint32_t> state;  // ChannelState
  std::atomic<uint32_t> epoch;  // bumped on every claim: a cached index goes stale
  char path[kChannelPathLen];   // per_path: the client path; single: ""
  uint8_t creator[16];          // per_path: the address of the client that claimed it (IPv4 as ::ffff:a.b.c.d)
  // Ring positions count bytes since the claim and never wrap; position p is
  // at ring byte p % ring_size. [tail, head) holds whole records.
  std::atomic<uint64_t> head;                   // after the last complete record
  std::atomic<uint64_t> tail;                   // the oldest record still intact
  std::atomic<uint64_t> next_seq;               // the seq the next record carries; the first is 1
  std::atomic<uint32_t> upstream;               // UpstreamState, for status
  std::atomic<uint32_t> source_index;           // which source is (or was last) connected
  std::atomic<uint64_t> connects;               // upstream connections made
  std::atomic<uint64_t> messages_in;            // messages written to the ring
  std::atomic<uint64_t> bytes_in;               // their payload bytes
  std::atomic<uint64_t> oversize;               // messages too large for the ring, dropped
  std::atomic<int32_t> subscribers[kMaxSlots];  // per slot
};

struct StreamsHeader {
  Prefix prefix;
  uint32_t channel_count;
  uint32_t reserved;
  // The pid of the process inside a claim or free of a per_path channel, or
  // 0. A pid, not a flag, so a holder that died can be told and overruled
  // instead of wedging every other process.
  std::atomic<int32_t> claim_lock;
  uint32_t reserved2;
  ChannelEntry channels[kMaxChannels];
};

static_assert(std::is_standard_layout_v<StreamsHeader>);
static_assert(offsetof(StreamsHeader, prefix) == 0);
static_assert(sizeof(StreamsHeader) % 8 == 0);

}  // namespace wsgate::shm
