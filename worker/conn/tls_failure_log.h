// A client's TLS failure, logged with OpenSSL's reason at most once a second
// per worker (the line says how many were left out): a scan of a TLS port,
// or a client sending garbage records, must not fill the log.
#pragma once

#include "worker/conn/worker_context.h"
#include "worker/net/tcp_conn.h"

namespace wsgate::worker {

// False when `c` has no TLS failure (the caller logs the error its own way).
bool log_tls_failure(WorkerContext& ctx, TcpConn& c, const char* while_doing);

}  // namespace wsgate::worker
