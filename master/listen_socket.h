// Opening one listening TCP socket, the one way the master does it for
// clients (SO_REUSEPORT, one per worker) and for the admin endpoint.
#pragma once

#include "conf/endpoint.h"

namespace wsgate::master {

struct ListenOptions {
  bool reuseport = false;  // several sockets on one address, the kernel spreading connections
  int backlog = 4096;
  const char* what = "";  // "admin " in messages about the admin socket
};

// Socket, SO_REUSEADDR (and SO_REUSEPORT), IPV6_V6ONLY for IPv6, bind,
// listen; CLOEXEC. Throws std::runtime_error naming the step, the address and
// the errno text; nothing stays open then.
int open_listening_socket(const conf::Endpoint& ep, const ListenOptions& options);

}  // namespace wsgate::master
