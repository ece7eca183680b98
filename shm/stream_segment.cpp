#include "shm/stream_segment.h"

#include <cstring>
#include <new>

namespace wsgate::shm {

namespace {

uint64_t round8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Rings start on a page so each channel's bytes share no cache line (or page)
// with another channel's or with the header's counters.
constexpr uint64_t kRingAlign = 4096;
uint64_t align_ring(uint64_t n) { return (n + kRingAlign - 1) & ~(kRingAlign - 1); }

uint64_t total_size(const std::vector<ChannelPlan>& plan) {
  uint64_t size = align_ring(sizeof(StreamsHeader));
  for (const ChannelPlan& c : plan) {
    size += align_ring(round8(c.ring_size));
  }
  return size;
}

void lay_out(StreamsHeader& h, const std::vector<ChannelPlan>& plan) {
  uint64_t offset = align_ring(sizeof(StreamsHeader));
  h.channel_count = static_cast<uint32_t>(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    ChannelEntry& e = h.channels[i];
    std::strncpy(e.stream, plan[i].stream.c_str(), sizeof e.stream - 1);
    e.stream_index = plan[i].stream_index;
    e.ring_offset = offset;
    e.ring_size = round8(plan[i].ring_size);
    e.next_seq.store(1);
    e.state.store(static_cast<uint32_t>(plan[i].fixed ? ChannelState::active : ChannelState::free));
    e.epoch.store(plan[i].fixed ? 1 : 0);
    offset += align_ring(e.ring_size);
  }
}

}  // namespace

std::string StreamSegment::name_for(const std::string& table_segment_name, uint32_t set) {
  return table_segment_name + "-streams" + (set > 1 ? "-" + std::to_string(set) : std::string());
}

StreamSegment StreamSegment::create(const std::string& name, int master_pid, const std::vector<ChannelPlan>& plan,
                                    const SegmentMode& mode) {
  if (plan.size() > kMaxChannels) {
    throw SegmentError("more than " + std::to_string(kMaxChannels) + " stream channels");
  }
  const uint64_t size = total_size(plan);
  NamedMapping mapping = NamedMapping::create_exclusive(name, size, mode, kStreamsMagic, master_pid,
                                                        " (" + std::to_string(size) + " bytes for the stream rings)");
  auto* h = ::new (mapping.address()) StreamsHeader();
  h->prefix.magic = kStreamsMagic;
  h->prefix.version = kStreamsLayoutVersion;
  h->prefix.prefix_size = sizeof(Prefix);
  h->prefix.total_size = size;
  h->prefix.master_pid.store(master_pid);
  lay_out(*h, plan);
  return StreamSegment(std::move(mapping));
}

StreamSegment StreamSegment::attach_read_only(const std::string& name) {
  NamedMapping mapping = NamedMapping::attach(name, NamedMapping::Access::read_only);
  const auto* h = static_cast<const StreamsHeader*>(mapping.address());
  if (mapping.size() < sizeof(StreamsHeader) || h->prefix.magic != kStreamsMagic ||
      h->prefix.version != kStreamsLayoutVersion || h->prefix.total_size != mapping.size()) {
    throw SegmentError("/dev/shm/" + name + " is not a stream segment of this wsgate version");
  }
  return StreamSegment(std::move(mapping));
}

uint8_t* StreamSegment::ring(uint32_t channel) {
  return reinterpret_cast<uint8_t*>(header()) + header()->channels[channel].ring_offset;
}

const uint8_t* StreamSegment::ring(uint32_t channel) const {
  return reinterpret_cast<const uint8_t*>(header()) + header()->channels[channel].ring_offset;
}

}  // namespace wsgate::shm
