// What the feed source's GET /_stats reports, parsed for assertions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace wsgate::test {

struct FeedChannelStats {
  std::uint64_t open = 0;  // subscribers now
  std::uint64_t seq = 0;   // last message sent on the channel
};

// A text or binary message a subscriber sent (e.g. wsgate's on_connect_send).
struct FeedReceived {
  std::uint64_t conn = 0;  // 1, 2, ... in order of upgrade
  std::string path;        // the channel it joined
  std::string text;
};

struct FeedStats {
  std::uint64_t connections_total = 0;  // WebSocket upgrades ever accepted
  std::uint64_t connections_open = 0;   // subscribers now (all channels)
  std::uint64_t slow_drops = 0;         // subscribers dropped for a backlog over 8 MiB
  std::map<std::string, FeedChannelStats> channels;
  std::uint64_t received_total = 0;  // can exceed received.size() (capped list)
  std::vector<FeedReceived> received;

  // The channel's entry, or zeros for a channel never joined.
  FeedChannelStats channel(const std::string& path) const;
  // The texts received on `path`, in arrival order.
  std::vector<std::string> texts(const std::string& path) const;
};

// Throws TestIoError on malformed input.
FeedStats parse_feed_stats(const std::string& json);

}  // namespace wsgate::test
