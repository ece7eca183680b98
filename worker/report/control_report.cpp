#include "worker/report/control_report.h"

#include <cstdio>

#include "shm/backend_control.h"
#include "shm/ip_table.h"

namespace wsgate::worker {

namespace {

std::string seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

void drain_json(const shm::Table& t, uint32_t backend, std::ostream& out) {
  const shm::DrainProgress d = shm::drain_progress(t, backend);
  if (!d.draining) {
    out << ",\"drain\":null";
    return;
  }
  out << ",\"drain\":{\"rate\":" << d.rate << ",\"moved\":" << d.moved << ",\"initial\":" << d.initial
      << ",\"left\":" << d.sessions_left << ",\"elapsed_ms\":" << d.elapsed_ms << "}";
}

void control_json(const shm::Table& t, std::ostream& out) {
  const shm::RebalanceProgress r = shm::rebalance_progress(t);
  out << ",\"rebalance\":{\"state\":\"" << shm::rebalance_state_name(r.state) << "\",\"rate\":" << r.rate
      << ",\"moved\":" << r.moved << ",\"planned\":" << r.planned << ",\"elapsed_ms\":" << r.elapsed_ms << "}";
  const shm::IpTable ips(const_cast<shm::IpTableLayout&>(t.ips));
  out << ",\"ip_limits\":{\"tracked\":" << ips.live_entries()
      << ",\"refused_connections\":" << t.ips.refused_connections.load()
      << ",\"refused_rate\":" << t.ips.refused_rate.load() << ",\"untracked\":" << t.ips.full_total.load()
      << ",\"evictions\":" << t.ips.evictions.load() << "}";
}

std::string drain_text(const shm::Table& t, uint32_t backend) {
  const shm::DrainProgress d = shm::drain_progress(t, backend);
  if (!d.draining) {
    return "";
  }
  return "draining: " + std::to_string(d.sessions_left) + " sessions left, " + std::to_string(d.moved) + " moved at " +
         std::to_string(d.rate) + "/s for " + seconds(d.elapsed_ms);
}

std::string control_text(const shm::Table& t) {
  std::string out;
  const shm::RebalanceProgress r = shm::rebalance_progress(t);
  if (r.state != shm::RebalanceState::idle) {
    out += "rebalance: " + std::string(shm::rebalance_state_name(r.state)) + ", " + std::to_string(r.moved) + " of " +
           std::to_string(r.planned) + " moved at " + std::to_string(r.rate) + "/s in " + seconds(r.elapsed_ms) + "\n";
  }
  const shm::IpTable ips(const_cast<shm::IpTableLayout&>(t.ips));
  const uint64_t refused = t.ips.refused_connections.load() + t.ips.refused_rate.load();
  const uint32_t tracked = ips.live_entries();
  if (tracked > 0 || refused > 0 || t.ips.full_total.load() > 0) {
    out += "per-IP limits: " + std::to_string(tracked) + " addresses tracked, " +
           std::to_string(t.ips.refused_connections.load()) + " refused (connections), " +
           std::to_string(t.ips.refused_rate.load()) + " refused (rate), " + std::to_string(t.ips.full_total.load()) +
           " let in untracked (table full)\n";
  }
  return out;
}

}  // namespace wsgate::worker
