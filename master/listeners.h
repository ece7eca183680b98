// The listening sockets: one SO_REUSEPORT socket per worker slot and listen
// address, opened by the master and kept open for its whole life, so a
// respawned worker inherits its slot's accept queue instead of dropping it
// (closing a reuseport socket drops what is queued on it).
#pragma once

#include <string>
#include <vector>

#include "conf/endpoint.h"

namespace wsgate::master {

class ListenSockets {
 public:
  // Throws std::runtime_error naming the address and errno text.
  ListenSockets(const std::vector<conf::Endpoint>& endpoints, unsigned slots);
  ~ListenSockets();
  ListenSockets(const ListenSockets&) = delete;
  ListenSockets& operator=(const ListenSockets&) = delete;

  const std::vector<int>& for_slot(unsigned slot) const { return fds_[slot]; }
  unsigned slots() const { return static_cast<unsigned>(fds_.size()); }

 private:
  std::vector<std::vector<int>> fds_;
};

}  // namespace wsgate::master
