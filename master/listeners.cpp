#include "master/listeners.h"

#include <unistd.h>

#include <algorithm>

#include "master/listen_socket.h"

namespace wsgate::master {

namespace {

int open_one(const conf::Endpoint& ep) { return open_listening_socket(ep, ListenOptions{true, 4096, ""}); }

}  // namespace

void ListenSockets::ensure(const std::vector<conf::Endpoint>& endpoints, unsigned workers) {
  std::vector<std::pair<size_t, size_t>> opened;  // (group, how many fds were there before)
  const size_t groups_before = groups_.size();
  try {
    for (const conf::Endpoint& ep : endpoints) {
      auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.endpoint == ep; });
      if (it == groups_.end()) {
        groups_.push_back(Group{ep, {}});
        it = groups_.end() - 1;
      }
      const size_t g = static_cast<size_t>(it - groups_.begin());
      opened.emplace_back(g, it->fds.size());
      while (groups_[g].fds.size() < workers) {
        groups_[g].fds.push_back(open_one(ep));
      }
    }
  } catch (...) {
    for (auto [g, before] : opened) {
      while (groups_[g].fds.size() > before) {
        close(groups_[g].fds.back());
        groups_[g].fds.pop_back();
      }
    }
    groups_.resize(groups_before);
    throw;
  }
}

std::vector<int> ListenSockets::for_worker(const std::vector<conf::Endpoint>& endpoints, unsigned index,
                                           unsigned workers) const {
  std::vector<int> fds;
  for (const conf::Endpoint& ep : endpoints) {
    for (const Group& g : groups_) {
      if (g.endpoint == ep) {
        for (size_t k = index; k < g.fds.size(); k += workers) {
          fds.push_back(g.fds[k]);
        }
      }
    }
  }
  return fds;
}

void ListenSockets::keep_only(const std::vector<conf::Endpoint>& in_use) {
  std::vector<Group> kept;
  for (Group& g : groups_) {
    if (std::find(in_use.begin(), in_use.end(), g.endpoint) != in_use.end()) {
      kept.push_back(std::move(g));
    } else {
      for (int fd : g.fds) {
        close(fd);
      }
    }
  }
  groups_ = std::move(kept);
}

std::vector<int> ListenSockets::all() const {
  std::vector<int> fds;
  for (const Group& g : groups_) {
    fds.insert(fds.end(), g.fds.begin(), g.fds.end());
  }
  return fds;
}

ListenSockets::~ListenSockets() {
  for (const Group& g : groups_) {
    for (int fd : g.fds) {
      close(fd);
    }
  }
}

}  // namespace wsgate::master
