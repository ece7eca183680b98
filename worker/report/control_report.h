// Runtime control and per-IP limits as `wsgate status` and the admin
// endpoint's /status report them: drain progress per backend, the rebalance,
// and the per-IP table's counters. Pure functions of the shared table.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "shm/layout.h"

namespace wsgate::worker {

// ,"drain":{"rate":50,"moved":N,"initial":N,"left":N,"elapsed_ms":N} — or
// ,"drain":null when the backend is not draining. Goes after a backend's keys.
void drain_json(const shm::Table& t, uint32_t backend, std::ostream& out);
// ,"rebalance":{"state":"running","rate":50,"moved":N,"planned":N,"elapsed_ms":N}
// ,"ip_limits":{"tracked":N,"refused_connections":N,"refused_rate":N,"untracked":N,"evictions":N}
void control_json(const shm::Table& t, std::ostream& out);

// "draining: 40 sessions left, 60 moved at 50/s for 1.2 s" ("" when not draining).
std::string drain_text(const shm::Table& t, uint32_t backend);
// "rebalance: running, 12 of 40 moved at 50/s for 0.3 s\nper-IP limits: ...\n".
std::string control_text(const shm::Table& t);

}  // namespace wsgate::worker
