#include "worker/net/peer_watch.h"

// linux/tcp.h rather than netinet/tcp.h: glibc's tcp_info stops before
// tcpi_bytes_acked (Linux 4.1). This file includes nothing of libuv, whose
// headers pull in netinet/tcp.h.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace wsgate::worker {

namespace {
// tcpi_state values (Linux include/net/tcp_states.h, a stable ABI that
// linux/tcp.h does not export).
constexpr uint8_t kEstablished = 1, kFinWait1 = 4, kFinWait2 = 5;
}  // namespace

bool probe_peer(int fd, PeerProbe& out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
    return false;
  }
  int err = 0;
  socklen_t err_len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
    err = 0;
  }
  out.error = err;
  // wsgate has not shut down its side of a connection it still relays, so
  // any state past ESTABLISHED but its own FIN_WAITs means the peer's FIN
  // came (CLOSE_WAIT, LAST_ACK, CLOSING) or the connection is dead (CLOSE).
  switch (info.tcpi_state) {
    case kEstablished:
    case kFinWait1:
    case kFinWait2: out.hung_up = false; break;
    default: out.hung_up = true; break;
  }
  out.bytes_acked =
      len >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked ? info.tcpi_bytes_acked : 0;
  return true;
}

}  // namespace wsgate::worker
