// The JSON report of the shared table that `wsgate status --json` prints and
// the admin endpoint serves at /status: one pure function of the tables, so
// both always say the same thing.
#pragma once

#include <cstdint>
#include <string>

#include "shm/layout.h"
#include "shm/stream_layout.h"

namespace wsgate::worker {

// {"workers":[...],"backends":[...](,"channels":[...])}\n — `streams` may be
// null (no streams configured). The keys of a worker and of a backend up to
// "per_worker" keep their order and form (scripts and tests read them); new
// keys only ever go after them. `now_ms` is CLOCK_MONOTONIC (shm::monotonic_ms()).
std::string status_json(const shm::Table& table, const shm::StreamsHeader* streams, int64_t now_ms);
std::string status_json(const shm::Table& table, const shm::StreamsHeader* streams);

}  // namespace wsgate::worker
