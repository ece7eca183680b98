// What the admin endpoint demands of a request before it reads the tables
// or changes them, against CSRF and DNS rebinding: a page in any browser on
// the host can send requests to 127.0.0.1, but not choose their Host (a
// rebound name keeps its own) nor add a custom header without a CORS
// preflight, which this endpoint never grants.
//
//   - exactly one Host, naming the admin address: "127.0.0.1:9100" as
//     configured, or "localhost:9100" when it is a loopback address; any IP
//     literal when it listens on every address (0.0.0.0 or ::). No Host, or
//     two: 400; another name: 421.
//   - control (POST /drain, /undrain, /rebalance, /rebalance/cancel): no
//     Origin header at all (403) and the header `X-Wsgate-Admin: 1` (403
//     without it). wsgate's own tools send it; `curl -X POST -H
//     'X-Wsgate-Admin: 1' ...` does too.
#pragma once

#include <optional>

#include "conf/endpoint.h"
#include "worker/admin/admin_http.h"

namespace wsgate::worker {

// True for the control paths (worker/admin/admin_control.h).
bool is_control_path(const std::string& path);

// The refusal for `req`, or nullopt when it may be served.
std::optional<AdminResponse> guard_admin(const AdminRequest& req, const conf::Endpoint& admin);

}  // namespace wsgate::worker
