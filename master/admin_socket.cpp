#include "master/admin_socket.h"

#include <unistd.h>

#include <utility>

#include "master/listen_socket.h"

namespace wsgate::master {

namespace {
constexpr int kBacklog = 64;  // scrapers and operators, not clients
}

AdminSocket::AdminSocket(const conf::Endpoint& ep)
    : fd_(open_listening_socket(ep, ListenOptions{false, kBacklog, "admin "})), endpoint_(ep) {}

AdminSocket::~AdminSocket() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

AdminSocket::AdminSocket(AdminSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), endpoint_(std::move(other.endpoint_)) {}

AdminSocket& AdminSocket::operator=(AdminSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    endpoint_ = std::move(other.endpoint_);
  }
  return *this;
}

}  // namespace wsgate::master
