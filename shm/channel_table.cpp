#include "shm/channel_table.h"

#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shm/channel_ring.h"

namespace wsgate::shm {

namespace {

bool process_gone(int32_t pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

// Held for a few hundred instructions at most. Whoever finds it held by a
// process that no longer exists takes it over, so a holder killed inside
// never wedges the others (the reason shm/layout.h has no mutex at all).
class ChannelTable::ClaimLock {
 public:
  explicit ClaimLock(StreamsHeader& h) : lock_(h.claim_lock) {
    const int32_t me = getpid();
    const int64_t deadline = now_ms() + 1000;
    for (int spins = 0;; ++spins) {
      int32_t holder = 0;
      if (lock_.compare_exchange_strong(holder, me, std::memory_order_acquire)) {
        held_ = true;
        return;
      }
      if (process_gone(holder) && lock_.compare_exchange_strong(holder, me, std::memory_order_acquire)) {
        held_ = true;
        return;
      }
      if (spins % 64 == 63 && now_ms() > deadline) {
        return;
      }
      sched_yield();
    }
  }
  ~ClaimLock() {
    if (held_) {
      lock_.store(0, std::memory_order_release);
    }
  }
  bool held() const { return held_; }

 private:
  std::atomic<int32_t>& lock_;
  bool held_ = false;
};

std::optional<Joined> ChannelTable::join(const ChannelRange& range, std::string_view path, uint32_t slot,
                                         JoinError* error, const Claimant& who) {
  auto count_in = [&](uint32_t ch) {
    ChannelEntry& e = h_->channels[ch];
    int32_t before = e.subscribers[slot].fetch_add(1, std::memory_order_seq_cst);
    return Joined{ch, e.epoch.load(std::memory_order_acquire), before == 0};
  };
  if (!range.per_path) {
    return count_in(range.first);
  }
  if (path.size() >= kChannelPathLen) {
    path = path.substr(0, kChannelPathLen - 1);  // the loader's path limit is far below
  }
  ClaimLock lock(*h_);
  if (!lock.held()) {
    *error = JoinError::busy;
    return std::nullopt;
  }
  std::optional<uint32_t> vacant;
  std::optional<uint32_t> idle;  // active, but nobody subscribes
  uint32_t by_who = 0;           // channels `who` created that are in use
  for (uint32_t ch = range.first; ch < range.first + range.count; ++ch) {
    ChannelEntry& e = h_->channels[ch];
    if (e.state.load(std::memory_order_acquire) == static_cast<uint32_t>(ChannelState::active)) {
      if (path == e.path) {
        return count_in(ch);
      }
      if (subscribers(ch) <= 0) {
        idle = idle ? idle : ch;
      } else if (std::memcmp(e.creator, who.address, sizeof e.creator) == 0) {
        ++by_who;
      }
    } else if (!vacant) {
      vacant = ch;
    }
  }
  // One address filling the range would lock every other client out of new
  // paths (issue 15, finding 12).
  if (who.max_per_address != 0 && by_who >= who.max_per_address) {
    *error = JoinError::address_limit;
    return std::nullopt;
  }
  if (!vacant) {
    // Only the feeder may reset a ring it could be writing, so a channel
    // lingering without subscribers is handed back through it: it closes
    // the upstream and frees the entry at once rather than after `linger`.
    if (idle) {
      h_->channels[*idle].reclaim.store(1, std::memory_order_release);
      *error = JoinError::reclaiming;
      return std::nullopt;
    }
    *error = JoinError::full;
    return std::nullopt;
  }
  ChannelEntry& e = h_->channels[*vacant];
  std::memset(e.path, 0, sizeof e.path);
  std::memcpy(e.path, path.data(), path.size());
  std::memcpy(e.creator, who.address, sizeof e.creator);
  e.reclaim.store(0, std::memory_order_relaxed);
  // Nobody reads a free channel, so its ring and counters start over here.
  RingWriter(e, nullptr).reset();
  e.upstream.store(static_cast<uint32_t>(UpstreamState::idle), std::memory_order_relaxed);
  e.messages_in.store(0, std::memory_order_relaxed);
  e.bytes_in.store(0, std::memory_order_relaxed);
  e.connects.store(0, std::memory_order_relaxed);
  e.oversize.store(0, std::memory_order_relaxed);
  e.epoch.fetch_add(1, std::memory_order_release);
  e.state.store(static_cast<uint32_t>(ChannelState::active), std::memory_order_release);
  return count_in(*vacant);
}

void ChannelTable::leave(uint32_t channel, uint32_t slot) {
  h_->channels[channel].subscribers[slot].fetch_sub(1, std::memory_order_seq_cst);
}

int64_t ChannelTable::subscribers(uint32_t channel) const {
  int64_t sum = 0;
  for (const auto& n : h_->channels[channel].subscribers) {
    sum += n.load(std::memory_order_seq_cst);
  }
  return sum;
}

bool ChannelTable::free_if_unused(uint32_t channel) {
  ClaimLock lock(*h_);
  if (!lock.held() || subscribers(channel) != 0) {
    return false;
  }
  ChannelEntry& e = h_->channels[channel];
  e.state.store(static_cast<uint32_t>(ChannelState::free), std::memory_order_release);
  e.upstream.store(static_cast<uint32_t>(UpstreamState::idle), std::memory_order_relaxed);
  e.reclaim.store(0, std::memory_order_relaxed);
  return true;
}

bool ChannelTable::reclaim_asked(uint32_t channel) const {
  return h_->channels[channel].reclaim.load(std::memory_order_acquire) != 0;
}

void ChannelTable::clear_slot(uint32_t slot) {
  for (uint32_t ch = 0; ch < h_->channel_count; ++ch) {
    h_->channels[ch].subscribers[slot].store(0, std::memory_order_seq_cst);
  }
}

}  // namespace wsgate::shm
