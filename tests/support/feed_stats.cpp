#include "tests/support/feed_stats.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>

#include "tests/support/ws_client.h"

namespace wsgate::test {

namespace pt = boost::property_tree;

FeedChannelStats FeedStats::channel(const std::string& path) const {
  const auto it = channels.find(path);
  return it == channels.end() ? FeedChannelStats{} : it->second;
}

std::vector<std::string> FeedStats::texts(const std::string& path) const {
  std::vector<std::string> out;
  for (const auto& r : received)
    if (r.path == path) out.push_back(r.text);
  return out;
}

// Children are walked, never looked up by key: property_tree reads '.' in a
// key as a path separator, and channel names are arbitrary.
FeedStats parse_feed_stats(const std::string& json) {
  try {
    pt::ptree root;
    std::istringstream in(json);
    pt::read_json(in, root);
    FeedStats s;
    s.connections_total = root.get<std::uint64_t>("connections_total");
    s.connections_open = root.get<std::uint64_t>("connections_open");
    s.slow_drops = root.get<std::uint64_t>("slow_drops");
    s.received_total = root.get<std::uint64_t>("received_total");
    for (const auto& [path, ch] : root.get_child("channels"))
      s.channels[path] = {ch.get<std::uint64_t>("open"), ch.get<std::uint64_t>("seq")};
    for (const auto& entry : root.get_child("received")) {
      const pt::ptree& r = entry.second;
      s.received.push_back({r.get<std::uint64_t>("conn"), r.get<std::string>("path"), r.get<std::string>("text")});
    }
    return s;
  } catch (const pt::ptree_error& e) {
    throw TestIoError(std::string("cannot read feed source stats (") + e.what() + "): " + json);
  }
}

}  // namespace wsgate::test
