#include "shm/stream_segment.h"

#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>
#include <new>

#include "shm/segment_owner.h"

namespace wsgate::shm {

namespace bip = boost::interprocess;

struct StreamSegment::Mapping {
  bip::mapped_region region;
};

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

StreamSegment StreamSegment::create(const std::string& name, int master_pid, const std::vector<ChannelPlan>& plan) {
  if (plan.size() > kMaxChannels) {
    throw SegmentError("more than " + std::to_string(kMaxChannels) + " stream channels");
  }
  const uint64_t size = total_size(plan);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write, bip::permissions(0644));
      obj.truncate(static_cast<bip::offset_t>(size));
      auto mapping = std::make_unique<Mapping>(Mapping{bip::mapped_region(obj, bip::read_write)});
      auto* h = ::new (mapping->region.get_address()) StreamsHeader();
      h->prefix.magic = kStreamsMagic;
      h->prefix.version = kStreamsLayoutVersion;
      h->prefix.prefix_size = sizeof(Prefix);
      h->prefix.total_size = size;
      h->prefix.master_pid.store(master_pid);
      lay_out(*h, plan);
      return StreamSegment(name, std::move(mapping), true);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error || attempt > 0) {
        throw SegmentError("cannot create shared memory /dev/shm/" + name + " (" + std::to_string(size) +
                           " bytes for the stream rings): " + e.what());
      }
    }
    int owner = existing_owner(name, kStreamsMagic);
    if (owner != 0 && owner != master_pid && is_live_wsgate(owner)) {
      throw SegmentError("shared memory /dev/shm/" + name + " belongs to a running wsgate (master pid " +
                         std::to_string(owner) + "): another instance uses this config");
    }
    bip::shared_memory_object::remove(name.c_str());
  }
  throw SegmentError("cannot create shared memory /dev/shm/" + name);
}

StreamSegment StreamSegment::attach_read_only(const std::string& name) {
  std::unique_ptr<Mapping> mapping;
  try {
    bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_only);
    mapping = std::make_unique<Mapping>(Mapping{bip::mapped_region(obj, bip::read_only)});
  } catch (const bip::interprocess_exception& e) {
    throw SegmentError("cannot open shared memory /dev/shm/" + name + ": " + e.what());
  }
  const auto* h = static_cast<const StreamsHeader*>(mapping->region.get_address());
  if (mapping->region.get_size() < sizeof(StreamsHeader) || h->prefix.magic != kStreamsMagic ||
      h->prefix.version != kStreamsLayoutVersion || h->prefix.total_size != mapping->region.get_size()) {
    throw SegmentError("/dev/shm/" + name + " is not a stream segment of this wsgate version");
  }
  return StreamSegment(name, std::move(mapping), false);
}

StreamSegment::StreamSegment(std::string name, std::unique_ptr<Mapping> mapping, bool owner)
    : name_(std::move(name)),
      mapping_(std::move(mapping)),
      header_(static_cast<StreamsHeader*>(mapping_->region.get_address())),
      owner_(owner),
      owner_pid_(getpid()) {}

StreamSegment::StreamSegment(StreamSegment&& other) noexcept
    : name_(std::move(other.name_)),
      mapping_(std::move(other.mapping_)),
      header_(other.header_),
      owner_(other.owner_),
      owner_pid_(other.owner_pid_) {
  other.header_ = nullptr;
  other.owner_ = false;
}

StreamSegment& StreamSegment::operator=(StreamSegment&& other) noexcept {
  if (this != &other) {
    StreamSegment gone(std::move(*this));
    name_ = std::move(other.name_);
    mapping_ = std::move(other.mapping_);
    header_ = other.header_;
    owner_ = other.owner_;
    owner_pid_ = other.owner_pid_;
    other.header_ = nullptr;
    other.owner_ = false;
  }
  return *this;
}

StreamSegment::~StreamSegment() {
  if (owner_ && owner_pid_ == getpid()) {
    bip::shared_memory_object::remove(name_.c_str());
  }
}

uint8_t* StreamSegment::ring(uint32_t channel) {
  return reinterpret_cast<uint8_t*>(header_) + header_->channels[channel].ring_offset;
}

const uint8_t* StreamSegment::ring(uint32_t channel) const {
  return reinterpret_cast<const uint8_t*>(header_) + header_->channels[channel].ring_offset;
}

}  // namespace wsgate::shm
