// /metrics: the shared tables in the Prometheus text exposition format
// (version 0.0.4). A pure function of the tables, so a scrape never talks to
// a worker and a unit test can check every line.
#pragma once

#include <cstdint>
#include <string>

#include "shm/layout.h"
#include "shm/stream_layout.h"

namespace wsgate::worker {

// Every metric is prefixed `wsgate_`, each family has its HELP and TYPE
// lines. Counters are sums over all slots (they live in shm and survive a
// worker's restart); gauges per worker carry worker/role/generation labels.
// `streams` may be null. `now_ms` is CLOCK_MONOTONIC (shm::monotonic_ms()).
std::string metrics_text(const shm::Table& table, const shm::StreamsHeader* streams, int64_t now_ms);

// The reload and drain families (reloads ok/failed, the accepting generation,
// draining generations and the connections they still hold), read from the
// shm header the master keeps. Part of metrics_text(); apart so the header's
// reload fields have one reader to follow them.
void render_reload_metrics(const shm::Table& table, std::string& out);

// A label value: the one escaping (worker/log/escape.h), so a client's
// channel path cannot make the exposition invalid UTF-8 or break its syntax.
std::string label_value(std::string_view raw);

}  // namespace wsgate::worker
