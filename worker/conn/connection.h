// What a worker keeps of every client connection it serves once accepted: a
// pool session (worker/proxy/) or a stream subscriber (worker/stream/). The
// worker holds them all in one registry (worker/edge/connections.h) and
// needs only this of them: stop them gracefully, and be told when one is done.
#pragma once

#include "worker/net/tcp_conn.h"

namespace wsgate::worker {

class Connection : public TcpConnOwner {
 public:
  virtual ~Connection() = default;
  // Graceful stop: a connection still in its handshake gets 503, an open
  // one a close 1001.
  virtual void shut_down() = 0;
};

class ConnectionHost {
 public:
  // `c` is done: destroy it soon, never from inside its own callbacks.
  virtual void retire(Connection& c) = 0;

 protected:
  ~ConnectionHost() = default;
};

}  // namespace wsgate::worker
