// Channels of the fan-out streams: who subscribes where, and the claiming and
// freeing of per_path channels. A `single` stream's channel is fixed by the
// master; a per_path stream owns a range of entries that proxy workers claim
// for a client path on its first subscriber and the feeder frees once the
// path's upstream has lingered out.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "shm/stream_layout.h"

namespace wsgate::shm {

// The channels of one stream: entries [first, first + count).
struct ChannelRange {
  uint32_t first = 0;
  uint32_t count = 1;
  bool per_path = false;
};

// Who asks for a new per_path channel: one client address may hold at most
// `max_per_address` channels that still have subscribers (0: no bound).
struct Claimant {
  uint8_t address[16] = {};  // IPv6, or IPv4 mapped (::ffff:a.b.c.d)
  uint32_t max_per_address = 0;
};

struct Joined {
  uint32_t channel = 0;
  uint32_t epoch = 0;
  bool first_in_slot = false;  // this slot had no subscriber there before
};

class ChannelTable {
 public:
  explicit ChannelTable(StreamsHeader& h) : h_(&h) {}

  // --- a proxy worker in `slot` ---
  enum class JoinError { full, busy, reclaiming, address_limit };
  // Counts one subscriber of `slot` on the channel of `path` (ignored for a
  // single stream), claiming a free entry for a new path. `full`: every entry
  // of the range holds another path with subscribers; `reclaiming`: none was
  // free, one without subscribers is now marked for the feeder to free (ask
  // again shortly); `address_limit`: `who` already created
  // `max_per_address` channels of the range that have subscribers; `busy`:
  // the claim lock stayed taken.
  std::optional<Joined> join(const ChannelRange& range, std::string_view path, uint32_t slot, JoinError* error,
                             const Claimant& who = {});
  void leave(uint32_t channel, uint32_t slot);

  // --- the feeder ---
  int64_t subscribers(uint32_t channel) const;
  // Frees a per_path channel nobody subscribes to; false if somebody joined.
  bool free_if_unused(uint32_t channel);
  // A new path asked for this channel's place (see join()).
  bool reclaim_asked(uint32_t channel) const;

  // --- the master, after the process in `slot` died ---
  void clear_slot(uint32_t slot);

  ChannelEntry& entry(uint32_t channel) { return h_->channels[channel]; }
  const ChannelEntry& entry(uint32_t channel) const { return h_->channels[channel]; }
  uint32_t count() const { return h_->channel_count; }

 private:
  class ClaimLock;
  StreamsHeader* h_;
};

}  // namespace wsgate::shm
