#include "worker/admin/admin_routes.h"

#include "worker/report/metrics_text.h"
#include "worker/report/status_json.h"

namespace wsgate::worker {

namespace {
constexpr const char* kIndex =
    "wsgate admin endpoint\n"
    "  GET /metrics  Prometheus text format 0.0.4\n"
    "  GET /status   the JSON of `wsgate status --json`\n"
    "  POST /drain?backend=POOL/HOST:PORT[&rate=N]   POST /undrain?backend=...\n"
    "  POST /rebalance[?rate=N]   POST /rebalance/cancel\n";
}

AdminResponse route_admin(const AdminRequest& req, const shm::Table& table, const shm::StreamsHeader* streams,
                          int64_t now_ms) {
  AdminResponse r;
  const bool known = req.path == "/metrics" || req.path == "/status" || req.path == "/";
  if (!known) {
    r.status = 404;
    r.body = "no such path: try /metrics or /status\n";
    return r;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    r.status = 405;
    r.allow = "GET, HEAD";
    r.body = "method not allowed: use GET\n";
    return r;
  }
  if (req.path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text(table, streams, now_ms);
  } else if (req.path == "/status") {
    r.content_type = "application/json";
    r.body = status_json(table, streams, now_ms);
  } else {
    r.body = kIndex;
  }
  return r;
}

}  // namespace wsgate::worker
