// The named shared-memory segment of the fan-out streams (shm/stream_layout.h):
// created by the master before fork() with one ring per planned channel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shm/named_mapping.h"
#include "shm/segment.h"
#include "shm/stream_layout.h"

namespace wsgate::shm {

// What the master asks for, one entry per channel in order.
struct ChannelPlan {
  std::string stream;  // its name (at most kNameLen - 1 bytes are kept)
  uint32_t stream_index = 0;
  uint64_t ring_size = 0;  // rounded up to a multiple of 8
  bool fixed = false;      // a `single` stream's channel: active for the segment's life
};

class StreamSegment {
 public:
  // "<table segment name>-streams" for the first set of streams; a reload
  // that changes the streams makes set 2, 3, ... ("-streams-2"), because the
  // old set keeps feeding the subscribers of the generation that drains.
  static std::string name_for(const std::string& table_segment_name, uint32_t set = 1);

  // Creates and lays out the segment; a stale one (dead master) is replaced,
  // a live one refused, as shm::Segment does. Throws SegmentError.
  static StreamSegment create(const std::string& name, int master_pid, const std::vector<ChannelPlan>& plan,
                              const SegmentMode& mode = {});
  // Maps an existing segment read-only (wsgate status).
  static StreamSegment attach_read_only(const std::string& name);

  StreamsHeader* header() { return static_cast<StreamsHeader*>(mapping_.address()); }
  const StreamsHeader* header() const { return static_cast<const StreamsHeader*>(mapping_.address()); }
  uint8_t* ring(uint32_t channel);
  const uint8_t* ring(uint32_t channel) const;
  const std::string& name() const { return mapping_.name(); }

 private:
  explicit StreamSegment(NamedMapping mapping) : mapping_(std::move(mapping)) {}

  NamedMapping mapping_;
};

}  // namespace wsgate::shm
