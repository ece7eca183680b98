// The socket address of a configured endpoint, for every dial (pool
// backends, health checks, stream sources). One place, so that resolving
// host names can later replace it for all of them at once.
#pragma once

#include <sys/socket.h>

#include "conf/endpoint.h"

namespace wsgate::worker {

// Fills `out` from the endpoint's numeric address; 0, or a libuv error code.
int endpoint_address(const conf::Endpoint& e, sockaddr_storage& out);

}  // namespace wsgate::worker
