// Every client connection a worker serves after accepting it, pool sessions
// and stream subscribers alike, and those that ended and wait to be destroyed
// on the next loop turn (never inside their own callbacks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "worker/conn/connection.h"

namespace wsgate::worker {

class Connections {
 public:
  // Only for the counts in log lines.
  enum class Kind : uint8_t { session, subscriber };

  Connection& add(std::unique_ptr<Connection> c, Kind kind);
  // `c` ended: kept until bury(). False when it is not registered (retired already).
  bool retire(Connection& c);
  // Destroys what retire() kept.
  void bury() { graveyard_.clear(); }
  // Destroys every live connection at once (the stop deadline).
  void clear() { live_.clear(); }

  bool empty() const { return live_.empty(); }
  size_t size() const { return live_.size(); }
  size_t count(Kind kind) const;
  bool contains(const Connection* c) const { return live_.count(const_cast<Connection*>(c)) != 0; }
  // The live ones now: a copy, since shutting one down may retire it.
  std::vector<Connection*> list() const;

 private:
  struct Entry {
    std::unique_ptr<Connection> conn;
    Kind kind;
  };
  std::unordered_map<Connection*, Entry> live_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
};

}  // namespace wsgate::worker
