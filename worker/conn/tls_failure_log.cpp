#include "worker/conn/tls_failure_log.h"

#include "worker/log/log.h"

namespace wsgate::worker {

bool log_tls_failure(WorkerContext& ctx, TcpConn& c, const char* while_doing) {
  const TlsStream* tls = c.tls();
  if (tls == nullptr || tls->failure() == shm::TlsOutcome::ok) {
    return false;
  }
  const uint64_t now = uv_now(ctx.loop);
  if (ctx.tls_failure_logged_ms != 0 && now - ctx.tls_failure_logged_ms < 1000) {
    ++ctx.tls_failures_unlogged;
    return true;
  }
  LOG_INFO("TLS with client %s failed %s: %s (%s; %llu more since the last such line)", c.peer_name(true).c_str(),
           while_doing, tls->failure_text().c_str(), shm::kTlsOutcomeNames[static_cast<size_t>(tls->failure())],
           static_cast<unsigned long long>(ctx.tls_failures_unlogged));
  ctx.tls_failure_logged_ms = now;
  ctx.tls_failures_unlogged = 0;
  return true;
}

}  // namespace wsgate::worker
