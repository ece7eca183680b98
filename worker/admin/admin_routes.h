// What the admin endpoint answers, as a pure function of the request and the
// shared tables: GET (or HEAD) /metrics and /status; 405 for another method
// on them, 404 for any other path.
#pragma once

#include <cstdint>

#include "shm/layout.h"
#include "shm/stream_layout.h"
#include "worker/admin/admin_http.h"

namespace wsgate::worker {

AdminResponse route_admin(const AdminRequest& req, const shm::Table& table, const shm::StreamsHeader* streams,
                          int64_t now_ms);

}  // namespace wsgate::worker
