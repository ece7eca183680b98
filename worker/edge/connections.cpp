#include "worker/edge/connections.h"

namespace wsgate::worker {

Connection& Connections::add(std::unique_ptr<Connection> c, Kind kind) {
  Connection* key = c.get();
  live_.emplace(key, Entry{std::move(c), kind});
  return *key;
}

std::unique_ptr<Connection> Connections::retire(Connection& c) {
  auto it = live_.find(&c);
  if (it == live_.end()) {
    return nullptr;
  }
  std::unique_ptr<Connection> gone = std::move(it->second.conn);
  live_.erase(it);
  return gone;
}

size_t Connections::count(Kind kind) const {
  size_t n = 0;
  for (const auto& [key, e] : live_) {
    n += e.kind == kind ? 1 : 0;
  }
  return n;
}

std::vector<Connection*> Connections::list() const {
  std::vector<Connection*> all;
  all.reserve(live_.size());
  for (const auto& [key, e] : live_) {
    all.push_back(key);
  }
  return all;
}

}  // namespace wsgate::worker
