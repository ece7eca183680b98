// Every client connection a worker serves after accepting it, pool sessions
// and stream subscribers alike. Those that end go to the role's graveyard.
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
  // `c` ended: handed back for the graveyard (never destroyed inside its own
  // callbacks). Null when it is not registered (retired already).
  std::unique_ptr<Connection> retire(Connection& c);
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
};

}  // namespace wsgate::worker
