#include "conf/reload_plan.h"

namespace wsgate::conf {

namespace {

// Auth blocks without their keys: keys are re-read on every reload and
// swapped in place; a change of `from`, `field` or `timeout` is a rule.
bool same_auth_rules(const std::vector<Auth>& a, const std::vector<Auth>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    Auth x = a[i];
    x.keys = b[i].keys;
    if (!(x == b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ReloadPlan::summary() const {
  std::string out;
  for (const std::string& c : changes) {
    out += (out.empty() ? "" : ", ") + c;
  }
  return out.empty() ? "no change" : out;
}

ReloadPlan plan_reload(const Config& running, const Config& fresh) {
  ReloadPlan plan;
  std::vector<std::string> generation;
  if (running.listen != fresh.listen) generation.push_back("listen");
  if (running.workers != fresh.workers) {
    generation.push_back("workers " + std::to_string(running.workers) + " -> " + std::to_string(fresh.workers));
  }
  if (running.routes != fresh.routes) generation.push_back("routes");
  if (running.streams != fresh.streams) generation.push_back("streams");
  if (!same_auth_rules(running.auths, fresh.auths)) generation.push_back("auth");
  if (running.drain != fresh.drain) generation.push_back("drain_timeout/max_generations");
  if (running.run_as != fresh.run_as) generation.push_back("user/group");
  if (running.log != fresh.log) generation.push_back("log");  // workers open the log files at start

  std::vector<std::string> in_place;
  if (running.pools != fresh.pools) in_place.push_back("pools");
  if (running.limits != fresh.limits) in_place.push_back("limits");
  if (running.admin != fresh.admin) in_place.push_back("admin");
  bool keys_changed = false;
  for (size_t i = 0; i < running.auths.size() && i < fresh.auths.size(); ++i) {
    keys_changed = keys_changed || running.auths[i].keys != fresh.auths[i].keys;
  }
  if (keys_changed) in_place.push_back("auth keys");

  plan.changes = generation;
  plan.changes.insert(plan.changes.end(), in_place.begin(), in_place.end());
  plan.kind = !generation.empty() ? ReloadKind::new_generation
              : !in_place.empty() ? ReloadKind::in_place
                                  : ReloadKind::nothing;
  return plan;
}

}  // namespace wsgate::conf
