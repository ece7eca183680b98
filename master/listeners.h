// The listening sockets: SO_REUSEPORT sockets per listen address, opened by
// the master and kept open while any generation of workers uses the address,
// so a respawned worker or a new generation inherits the accept queues
// instead of dropping them (closing a reuseport socket drops what is queued
// on it). An address has at least as many sockets as the largest worker
// count it was served with; when a reload shrinks the worker count, each
// worker serves several of them (socket k goes to worker k mod workers), so
// no socket is ever closed while its address is still configured.
#pragma once

#include <string>
#include <vector>

#include "conf/endpoint.h"

namespace wsgate::master {

class ListenSockets {
 public:
  ListenSockets() = default;
  ~ListenSockets();
  ListenSockets(const ListenSockets&) = delete;
  ListenSockets& operator=(const ListenSockets&) = delete;

  // Opens what `endpoints` served by `workers` workers need and is not open
  // yet. Throws std::runtime_error naming the address and errno text, after
  // closing what this call opened.
  void ensure(const std::vector<conf::Endpoint>& endpoints, unsigned workers);
  // The sockets worker `index` of `workers` serves.
  std::vector<int> for_worker(const std::vector<conf::Endpoint>& endpoints, unsigned index, unsigned workers) const;
  // Closes the sockets of every address not in `in_use`.
  void keep_only(const std::vector<conf::Endpoint>& in_use);
  // Every socket, for a child to close the ones it does not serve.
  std::vector<int> all() const;

 private:
  struct Group {
    conf::Endpoint endpoint;
    std::vector<int> fds;
  };
  std::vector<Group> groups_;
};

}  // namespace wsgate::master
