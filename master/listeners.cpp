#include "master/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace wsgate::master {

namespace {

constexpr int kBacklog = 4096;

int open_one(const conf::Endpoint& ep) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = ep.ipv6 ? AF_INET6 : AF_INET;
  if (ep.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(ep.port);
    inet_pton(AF_INET6, ep.host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(ep.port);
    inet_pton(AF_INET, ep.host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("socket() for " + ep.to_string() + " failed (" + std::to_string(errno) + ": " +
                             strerror(errno) + ")");
  }
  int one = 1;
  const char* step = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    step = "setsockopt(SO_REUSEADDR)";
  } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    step = "setsockopt(SO_REUSEPORT)";
  } else if (ep.ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    step = "setsockopt(IPV6_V6ONLY)";
  } else if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    step = "bind()";
  } else if (listen(fd, kBacklog) != 0) {
    step = "listen()";
  }
  if (step != nullptr) {
    int err = errno;
    close(fd);
    throw std::runtime_error(std::string(step) + " on " + ep.to_string() + " failed (" + std::to_string(err) +
                             ": " + strerror(err) + ")");
  }
  return fd;
}

void close_all(std::vector<std::vector<int>>& fds) {
  for (auto& slot : fds) {
    for (int fd : slot) {
      close(fd);
    }
  }
  fds.clear();
}

}  // namespace

ListenSockets::ListenSockets(const std::vector<conf::Endpoint>& endpoints, unsigned slots) {
  try {
    for (unsigned s = 0; s < slots; ++s) {
      fds_.emplace_back();
      for (const conf::Endpoint& ep : endpoints) {
        fds_.back().push_back(open_one(ep));
      }
    }
  } catch (...) {
    close_all(fds_);  // the destructor does not run for a constructor that throws
    throw;
  }
}

ListenSockets::~ListenSockets() { close_all(fds_); }

}  // namespace wsgate::master
