#include "worker/stream/stream_hub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "worker/log/log.h"

namespace wsgate::worker {

namespace {
// The eventfd is the fast path; this sweep only bounds the delay if a wake
// were ever missed (a feeder that died between writing and waking).
constexpr uint64_t kSweepMs = 250;
// Messages read per channel per loop turn. Bounded so a burst (or a worker
// that cannot keep up) never starves handshakes and client reads; and more
// than one, so each subscriber gets a burst in one write.
constexpr size_t kBatch = 64;

void signal_fd(int fd) {
  if (fd < 0) {
    return;
  }
  uint64_t one = 1;
  if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN) {
    LOG_WARN("cannot wake the feeder (%s)", strerror(errno));
  }
}

// The address a new channel is counted against. An address that does not
// parse (a connection already gone) is all zeros, one bucket for all of them.
shm::Claimant claimant_of(std::string_view client_ip, uint32_t max_per_address) {
  shm::Claimant who;
  who.max_per_address = max_per_address;
  const std::string ip(client_ip);
  in6_addr a6{};
  in_addr a4{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) {
    std::memcpy(who.address, &a6, sizeof who.address);
  } else if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
    who.address[10] = 0xff;
    who.address[11] = 0xff;
    std::memcpy(who.address + 12, &a4, sizeof a4);
  }
  return who;
}

}  // namespace

StreamHub::~StreamHub() { close(); }

bool StreamHub::start(uv_loop_t* loop, StreamSetup setup) {
  setup_ = std::move(setup);
  // Each handle is owned from its init on: a failure half-way leaves nothing behind.
  int r = wake_.init(uv_poll_init, loop, this, setup_.wake_fd);
  if (r == 0) {
    r = uv_poll_start(wake_.get(), UV_READABLE, &StreamHub::on_wake);
  }
  if (r == 0) {
    r = sweep_.init(uv_timer_init, loop, this);
  }
  if (r == 0) {
    r = more_.init(uv_idle_init, loop, this);
  }
  if (r != 0) {
    LOG_ERROR("cannot watch the stream wake-up fd %d (%s)", setup_.wake_fd, log::uv_error_text(r).c_str());
    return false;
  }
  uv_timer_start(sweep_.get(), &StreamHub::on_sweep, kSweepMs, kSweepMs);
  return true;
}

void StreamHub::close() {
  wake_.close();
  sweep_.close();
  more_.close();
}

shm::RingReader StreamHub::reader(uint32_t channel) const {
  const shm::ChannelEntry& e = setup_.header->channels[channel];
  return shm::RingReader(e, reinterpret_cast<const uint8_t*>(setup_.header) + e.ring_offset);
}

std::optional<shm::Joined> StreamHub::reserve(size_t stream, std::string_view path, std::string_view client_ip,
                                              HttpError& err) {
  shm::ChannelTable table(*setup_.header);
  shm::ChannelTable::JoinError why{};
  const conf::Stream& s = setup_.config->streams[stream];
  const shm::Claimant who = claimant_of(client_ip, s.max_channels_per_ip);
  std::optional<shm::Joined> j = table.join(setup_.ranges[stream], path, setup_.slot, &why, who);
  if (!j) {
    using JoinError = shm::ChannelTable::JoinError;
    switch (why) {
      case JoinError::full:
        err = HttpError{
            503,
            "stream " + s.name + " has all its " + std::to_string(s.max_channels) + " channels in use (max_channels)",
            {{"Retry-After", "5"}}};
        break;
      case JoinError::reclaiming:
        signal_fd(setup_.feeder_fd);  // free the idle channel now, not at the next tick
        err = HttpError{503,
                        "stream " + s.name + ": a channel without subscribers is being freed for this path",
                        {{"Retry-After", "1"}}};
        break;
      case JoinError::address_limit:
        err = HttpError{429,
                        "stream " + s.name + ": this address created " + std::to_string(s.max_channels_per_ip) +
                            " channels still in use (max_channels_per_ip)",
                        {{"Retry-After", "5"}}};
        break;
      case JoinError::busy:
        err = HttpError{503, "stream " + s.name + ": the channel table stayed locked", {{"Retry-After", "1"}}};
        break;
    }
    return std::nullopt;
  }
  if (table.subscribers(j->channel) == 1) {
    signal_fd(setup_.feeder_fd);  // the first subscriber anywhere: connect now, not at the next tick
  }
  return j;
}

void StreamHub::unreserve(const shm::Joined& j) { shm::ChannelTable(*setup_.header).leave(j.channel, setup_.slot); }

bool StreamHub::attach(StreamListener& l, const shm::Joined& j) {
  auto [it, fresh] = locals_.try_emplace(j.channel);
  Local& local = it->second;
  if (fresh || local.epoch != j.epoch) {
    const shm::ChannelEntry& e = setup_.header->channels[j.channel];
    local = Local{};
    local.epoch = j.epoch;
    local.stream = e.stream_index;
    const uint32_t keep = setup_.config->streams[local.stream].history;
    local.cursor = reader(j.channel).back(keep);
    // What is in the ring now becomes this worker's history; live delivery
    // starts after it.
    std::string frame;
    shm::RingReader::Result r;
    while ((r = reader(j.channel).next(local.cursor, frame)) == shm::RingReader::Result::record) {
      local.history.push_back(std::make_shared<const std::string>(std::move(frame)));
      frame.clear();
      if (local.history.size() > keep) {
        local.history.pop_front();
      }
    }
    if (r == shm::RingReader::Result::lapped) {
      local.cursor = reader(j.channel).at_head();  // overrun while reading history: start live
    }
  }
  std::vector<FrameRef> history(local.history.begin(), local.history.end());
  if (!history.empty() && !l.on_stream_frames(history.data(), history.size())) {
    unreserve(j);
    if (local.listeners.empty()) {
      locals_.erase(it);
    }
    return false;
  }
  l.hub_index = local.listeners.size();
  local.listeners.push_back(&l);
  return true;
}

void StreamHub::detach(StreamListener& l, const shm::Joined& j) {
  auto it = locals_.find(j.channel);
  if (it != locals_.end()) {
    std::vector<StreamListener*>& v = it->second.listeners;
    if (l.hub_index < v.size() && v[l.hub_index] == &l) {
      remove_at(j.channel, it->second, l.hub_index);
    }
  }
  unreserve(j);
}

void StreamHub::remove_at(uint32_t channel, Local& l, size_t i) {
  l.listeners[i] = l.listeners.back();
  l.listeners[i]->hub_index = i;
  l.listeners.pop_back();
  if (l.listeners.empty()) {
    locals_.erase(channel);  // `l` is gone: callers return at once
  }
}

void StreamHub::on_wake(uv_poll_t* h, int status, int) {
  auto* self = static_cast<StreamHub*>(h->data);
  if (self == nullptr || status < 0) {
    return;
  }
  uint64_t n = 0;
  if (read(self->setup_.wake_fd, &n, sizeof n) < 0 && errno != EAGAIN) {
    LOG_WARN("reading the stream wake-up fd failed (%s)", strerror(errno));
  }
  self->read_rings();
}

void StreamHub::on_sweep(uv_timer_t* t) {
  auto* self = static_cast<StreamHub*>(t->data);
  if (self != nullptr) {
    self->read_rings();
  }
}

void StreamHub::on_more(uv_idle_t* h) {
  if (auto* self = static_cast<StreamHub*>(h->data)) {
    self->read_rings();
  }
}

void StreamHub::read_rings() {
  std::vector<uint32_t> channels;
  channels.reserve(locals_.size());
  for (auto& [ch, l] : locals_) {
    channels.push_back(ch);
  }
  bool more = false;
  for (uint32_t ch : channels) {
    auto it = locals_.find(ch);
    if (it != locals_.end()) {
      more |= read_ring(ch, it->second);
    }
  }
  if (more) {
    uv_idle_start(more_.get(), &StreamHub::on_more);
  } else {
    uv_idle_stop(more_.get());
  }
}

bool StreamHub::read_ring(uint32_t channel, Local& l) {
  const shm::RingReader r = reader(channel);
  const uint32_t keep = setup_.config->streams[l.stream].history;
  batch_.clear();
  bool more = true;
  while (more && batch_.size() < kBatch) {
    switch (r.next(l.cursor, scratch_)) {
      case shm::RingReader::Result::empty: more = false; break;
      case shm::RingReader::Result::lapped: {
        // What was read before the overrun goes out first, then the gap.
        if (!batch_.empty()) {
          deliver(channel, l, batch_.data(), batch_.size());
          batch_.clear();
          if (!locals_.contains(channel)) {
            return false;
          }
        }
        shm::RingCursor tail = r.at_tail();
        uint64_t missed = l.cursor.seq != 0 && tail.seq > l.cursor.seq ? tail.seq - l.cursor.seq : 0;
        l.cursor = tail;
        LOG_WARN("fell a whole ring behind on channel %u of stream %s: %llu messages lost here", channel,
                 setup_.config->streams[l.stream].name.c_str(), static_cast<unsigned long long>(missed));
        l.history.clear();
        gap(channel, l, missed);
        if (!locals_.contains(channel)) {
          return false;
        }
        break;
      }
      case shm::RingReader::Result::record: {
        batch_.push_back(std::make_shared<const std::string>(std::move(scratch_)));
        scratch_.clear();
        if (keep > 0) {
          l.history.push_back(batch_.back());
          if (l.history.size() > keep) {
            l.history.pop_front();
          }
        }
        break;
      }
    }
  }
  if (!batch_.empty()) {
    deliver(channel, l, batch_.data(), batch_.size());
    batch_.clear();
  }
  return more && locals_.contains(channel);
}

// Calls `still_in` on every listener of the channel; one that answers false
// has left: it is uncounted and dropped from the list (which may empty the
// channel and erase `l`).
template <class StillIn>
void StreamHub::keep_if(uint32_t channel, Local& l, StillIn still_in) {
  shm::ChannelTable table(*setup_.header);
  for (size_t i = 0; i < l.listeners.size();) {
    if (still_in(*l.listeners[i])) {
      ++i;
      continue;
    }
    table.leave(channel, setup_.slot);
    bool last = l.listeners.size() == 1;
    remove_at(channel, l, i);
    if (last) {
      return;
    }
  }
}

void StreamHub::deliver(uint32_t channel, Local& l, const FrameRef* frames, size_t n) {
  keep_if(channel, l, [&](StreamListener& s) { return s.on_stream_frames(frames, n); });
}

void StreamHub::gap(uint32_t channel, Local& l, uint64_t missed) {
  keep_if(channel, l, [&](StreamListener& s) { return s.on_stream_gap(missed); });
}

}  // namespace wsgate::worker
