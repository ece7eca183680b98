// What the kernel knows of a TCP connection wsgate is not reading. libuv
// reports a peer's FIN or reset only to a reader (it has no EPOLLRDHUP), so a
// side paused for backpressure is asked directly: TCP_INFO says whether the
// peer sent its FIN (CLOSE_WAIT) or the connection died (CLOSE), even with
// unread bytes queued in front of it; SO_ERROR says why; and the bytes the
// peer acknowledged show whether it reads what wsgate writes to it.
#pragma once

#include <cstdint>

namespace wsgate::worker {

struct PeerProbe {
  bool hung_up = false;      // the peer sent its FIN, or the connection is gone
  int error = 0;             // the pending socket error (ECONNRESET, ETIMEDOUT, ...), 0 if none
  uint64_t bytes_acked = 0;  // of what we sent: grows while the peer reads
};

// Asks the kernel about the TCP socket `fd`; false when it cannot be asked.
bool probe_peer(int fd, PeerProbe& out);

}  // namespace wsgate::worker
