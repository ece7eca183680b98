// Where each configured stream's channels live in the stream segment. The
// master lays the segment out from it and every worker and the feeder index
// it the same way, so it is a pure function of the config.
#pragma once

#include <vector>

#include "conf/config.h"
#include "shm/channel_table.h"
#include "shm/stream_segment.h"

namespace wsgate::worker {

struct StreamPlan {
  std::vector<shm::ChannelRange> ranges;   // per conf stream, same order
  std::vector<shm::ChannelPlan> channels;  // per channel, for StreamSegment::create
};

StreamPlan plan_streams(const conf::Config& config);

}  // namespace wsgate::worker
