#include "worker/net/endpoint_address.h"

#include <uv.h>

namespace wsgate::worker {

int endpoint_address(const conf::Endpoint& e, sockaddr_storage& out) {
  out = sockaddr_storage{};
  return e.ipv6 ? uv_ip6_addr(e.host.c_str(), e.port, reinterpret_cast<sockaddr_in6*>(&out))
                : uv_ip4_addr(e.host.c_str(), e.port, reinterpret_cast<sockaddr_in*>(&out));
}

}  // namespace wsgate::worker
