#include "master/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace wsgate::master {

int open_listening_socket(const conf::Endpoint& ep, const ListenOptions& options) {
  sockaddr_storage ss{};
  socklen_t len = 0;
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
  const int fd = socket(ep.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    throw std::runtime_error(std::string("socket() for ") + options.what + ep.to_string() + " failed (" +
                             std::to_string(err) + ": " + strerror(err) + ")");
  }
  int one = 1;
  const char* step = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    step = "setsockopt(SO_REUSEADDR)";
  } else if (options.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    step = "setsockopt(SO_REUSEPORT)";
  } else if (ep.ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    step = "setsockopt(IPV6_V6ONLY)";
  } else if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    step = "bind()";
  } else if (listen(fd, options.backlog) != 0) {
    step = "listen()";
  }
  if (step != nullptr) {
    const int err = errno;
    close(fd);
    throw std::runtime_error(std::string(step) + " on " + options.what + ep.to_string() + " failed (" +
                             std::to_string(err) + ": " + strerror(err) + ")");
  }
  return fd;
}

}  // namespace wsgate::master
