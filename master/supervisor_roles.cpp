// The roles beside the proxy workers: one health prober and one admin
// endpoint for the active config, one feeder per stream set.
#include <algorithm>

#include "master/supervisor.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

bool any_pool_checked(const conf::Config& config) {
  return std::any_of(config.pools.begin(), config.pools.end(),
                     [](const conf::Pool& p) { return p.health.has_value(); });
}

}  // namespace

// The admin endpoint: one role process for the master's life, serving the
// socket bound at start or moved by a reload.
void Supervisor::start_admin() {
  if (!admin_socket_.open()) {
    return;
  }
  auto slot = slots_.take(shm::SlotRole::admin);
  if (!slot) {
    LOG_ERROR("no free slot for the admin endpoint: /metrics and /status are not served");
    return;
  }
  if (running_) {
    spawn(*slot);
  }
}

std::optional<AdminSocket> Supervisor::bind_admin(const conf::Config& fresh) const {
  if (!fresh.admin || (admin_socket_.open() && admin_socket_.endpoint() == *fresh.admin)) {
    return std::nullopt;
  }
  return AdminSocket(*fresh.admin);
}

void Supervisor::sync_admin(std::optional<AdminSocket> socket, bool streams_switched) {
  const std::optional<uint32_t> slot = slots_.find_current(shm::SlotRole::admin);
  if (!config_->admin) {
    if (slot) {
      slots_.retire(*slot);
    }
    admin_socket_ = AdminSocket();
    return;
  }
  const bool moved = socket.has_value();
  if (moved) {
    admin_socket_ = std::move(*socket);  // the old one closes here; its process follows below
    LOG_INFO("admin endpoint now on %s", admin_socket_.endpoint().to_string().c_str());
  }
  if (!slot) {
    start_admin();
  } else if (moved || streams_switched) {
    slots_.restart(*slot);
  }
}

// One prober for the active config: started when a pool gets checks,
// restarted when the pools changed, stopped when no pool is checked.
void Supervisor::sync_prober(bool pools_changed) {
  std::optional<uint32_t> slot = slots_.find_current(shm::SlotRole::prober);
  if (!any_pool_checked(*config_)) {
    if (slot) {
      slots_.retire(*slot);
    }
    return;
  }
  if (!slot) {
    slot = slots_.take(shm::SlotRole::prober);
    if (!slot) {
      LOG_ERROR("no free slot for the health prober: backends are not actively checked");
      return;
    }
    if (running_) {
      spawn(*slot);
    }
    return;
  }
  if (pools_changed) {
    slots_.restart(*slot);
  }
}

std::shared_ptr<StreamSet> Supervisor::make_stream_set(std::shared_ptr<const conf::Config> config) {
  auto set = std::make_shared<StreamSet>(last_stream_set_ + 1, std::move(config), segment_.name());
  ++last_stream_set_;
  stream_sets_.push_back(set);
  return set;
}

void Supervisor::attach_feeder(const std::shared_ptr<StreamSet>& set) {
  auto slot = slots_.take(shm::SlotRole::feeder);
  if (!slot) {
    LOG_ERROR("no free slot for the feeder of stream set %u: streams get no messages", set->id());
    return;
  }
  slots_[*slot].streams = set;
  set->feeder_slot = *slot;
  if (running_) {
    spawn(*slot);
  }
}

void Supervisor::retire_unused_stream_sets() {
  for (auto it = stream_sets_.begin(); it != stream_sets_.end();) {
    const std::shared_ptr<StreamSet>& set = *it;
    const bool used =
        std::any_of(generations_.begin(), generations_.end(), [&](const auto& g) { return g->streams == set; });
    if (used) {
      ++it;
      continue;
    }
    if (set->feeder_slot != StreamSet::kNoSlot) {
      slots_.retire(set->feeder_slot);
    }
    LOG_INFO("stream set %u is no longer used; its feeder stops", set->id());
    it = stream_sets_.erase(it);
  }
}

}  // namespace wsgate::master
