#include "worker/feeder/stream_plan.h"

namespace wsgate::worker {

StreamPlan plan_streams(const conf::Config& config) {
  StreamPlan plan;
  for (size_t i = 0; i < config.streams.size(); ++i) {
    const conf::Stream& s = config.streams[i];
    const bool per_path = s.channels == conf::ChannelMode::per_path;
    shm::ChannelRange range{static_cast<uint32_t>(plan.channels.size()), per_path ? s.max_channels : 1, per_path};
    for (uint32_t c = 0; c < range.count; ++c) {
      plan.channels.push_back(shm::ChannelPlan{s.name, static_cast<uint32_t>(i), s.ring, !per_path});
    }
    plan.ranges.push_back(range);
  }
  return plan;
}

}  // namespace wsgate::worker
