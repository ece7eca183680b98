// One set of fan-out streams as the master holds it: the ring segment laid
// out from a config's streams, one eventfd per slot (the feeder wakes the
// workers with subscribers) and one for the feeder. Every slot gets an
// eventfd up front, so a worker forked later into any slot finds its own
// among the ones the running feeder inherited.
//
// A reload that keeps the streams keeps the set (and its feeder and its
// upstream connections); one that changes them makes a new set for the new
// generation while the old one keeps feeding the generation that retires.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "shm/stream_segment.h"
#include "worker/feeder/stream_plan.h"

namespace wsgate::master {

class StreamSet {
 public:
  // Throws std::runtime_error (or shm::SegmentError) for the operator.
  StreamSet(uint32_t id, std::shared_ptr<const conf::Config> config, const std::string& table_segment_name);
  ~StreamSet();
  StreamSet(const StreamSet&) = delete;
  StreamSet& operator=(const StreamSet&) = delete;

  uint32_t id() const { return id_; }
  const conf::Config& config() const { return *config_; }
  const worker::StreamPlan& plan() const { return plan_; }
  shm::StreamsHeader* header() { return segment_.header(); }
  int worker_fd(uint32_t slot) const { return worker_fds_[slot]; }
  const std::vector<int>& worker_fds() const { return worker_fds_; }
  int feeder_fd() const { return feeder_fd_; }

  static constexpr uint32_t kNoSlot = UINT32_MAX;
  uint32_t feeder_slot = kNoSlot;

 private:
  uint32_t id_;
  std::shared_ptr<const conf::Config> config_;
  worker::StreamPlan plan_;
  shm::StreamSegment segment_;
  std::vector<int> worker_fds_;
  int feeder_fd_ = -1;
};

}  // namespace wsgate::master
