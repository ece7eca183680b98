#include "worker/report/status_names.h"

#include <cstdio>

namespace wsgate::worker {

const char* backend_state_name(const shm::BackendTable& t, uint32_t b, int64_t now) {
  auto admin = static_cast<shm::BackendState>(t.backend(b).admin_state.load());
  if (admin == shm::BackendState::draining) {
    return "draining";
  }
  if (admin == shm::BackendState::removed) {
    return "removed";
  }
  return t.available(b, now) ? "up" : "down";
}

const char* backend_health_name(const shm::BackendTable& t, uint32_t b) {
  return t.health(b) == shm::BackendState::down ? "down" : "up";
}

const char* slot_role_name(uint32_t role) {
  switch (static_cast<shm::SlotRole>(role)) {
    case shm::SlotRole::proxy: return "proxy";
    case shm::SlotRole::prober: return "prober";
    case shm::SlotRole::feeder: return "feeder";
    case shm::SlotRole::admin: return "admin";
    case shm::SlotRole::none: break;
  }
  return "none";
}

const char* upstream_state_name(uint32_t s) {
  switch (static_cast<shm::UpstreamState>(s)) {
    case shm::UpstreamState::idle: return "idle";
    case shm::UpstreamState::connecting: return "connecting";
    case shm::UpstreamState::up: return "up";
    case shm::UpstreamState::backoff: return "backoff";
  }
  return "unknown";
}

bool channel_active(const shm::ChannelEntry& e) {
  return e.state.load() == static_cast<uint32_t>(shm::ChannelState::active);
}

std::string format_rtt_ms(int64_t rtt_us, const char* none) {
  if (rtt_us < 0) {
    return none;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(rtt_us) / 1000.0);
  return buf;
}

}  // namespace wsgate::worker
