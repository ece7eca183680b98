// Runtime control on the admin endpoint: the operations of `wsgate drain`,
// `undrain` and `rebalance`, through the same functions on the shared table
// (shm/backend_control.h), for tools that speak HTTP rather than run the CLI.
//
//   POST /drain?backend=POOL/HOST:PORT[&rate=N]   (or backend=HOST:PORT)
//   POST /undrain?backend=...
//   POST /rebalance[?rate=N]
//   POST /rebalance/cancel
//
// Every POST must carry `X-Wsgate-Admin: 1` and no Origin
// (worker/admin/admin_guard.h). Answers JSON: 200 {"ok":true,...}; 400 for a
// bad rate or parameter or one given twice, 404 for an unknown backend, 409
// when the table refuses (a removed backend), 405 for another method. Like
// the rest of the endpoint it has no
// authentication: keep `admin` on loopback.
#pragma once

#include <optional>

#include "shm/layout.h"
#include "worker/admin/admin_http.h"

namespace wsgate::worker {

// nullopt when the path is not one of the control paths above.
std::optional<AdminResponse> control_admin(const AdminRequest& req, shm::Table& table);

}  // namespace wsgate::worker
