// The admin endpoint's listening socket (config `admin`): bound by the
// master, which may need privileges the admin process drops, and kept open
// for the master's life so a respawned admin process inherits the same one.
#pragma once

#include "conf/endpoint.h"

namespace wsgate::master {

class AdminSocket {
 public:
  AdminSocket() = default;
  // Binds and listens; throws std::runtime_error naming the step and errno.
  explicit AdminSocket(const conf::Endpoint& endpoint);
  ~AdminSocket();
  AdminSocket(AdminSocket&& other) noexcept;
  AdminSocket& operator=(AdminSocket&& other) noexcept;
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;

  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  const conf::Endpoint& endpoint() const { return endpoint_; }

 private:
  int fd_ = -1;
  conf::Endpoint endpoint_;
};

}  // namespace wsgate::master
