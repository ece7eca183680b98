// What a reload (SIGHUP) must do to go from the running config to a new one.
// Pools, backends, weights, health checks, limits and auth keys change in
// place: every worker keeps running and no session is touched. Anything a
// worker was built around (listen addresses, worker count, routes, streams,
// auth rules, the drain settings) needs a new generation of workers.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace wsgate::conf {

enum class ReloadKind { nothing, in_place, new_generation };

struct ReloadPlan {
  ReloadKind kind = ReloadKind::nothing;
  std::vector<std::string> changes;  // for the log: "pools", "routes", "workers 2 -> 4", ...
  std::string summary() const;       // the changes joined by ", "
};

ReloadPlan plan_reload(const Config& running, const Config& fresh);

}  // namespace wsgate::conf
