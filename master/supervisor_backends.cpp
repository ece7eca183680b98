// The backend rows of the shared table, kept in step with the config.
#include "master/supervisor.h"
#include "shm/backend_control.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

std::optional<std::string> Supervisor::check_room(const conf::Config& fresh, uint32_t slots_needed) const {
  const shm::Table& t = *segment_.table();
  shm::BackendTable table(const_cast<shm::Table&>(t));
  uint32_t new_rows = 0;
  std::vector<std::string> new_pools;
  for (const conf::Pool& pool : fresh.pools) {
    for (const conf::Backend& b : pool.backends) {
      new_rows += table.find_backend(pool.name, b.endpoint.to_string()) ? 0 : 1;
    }
    bool known = false;
    for (uint32_t p = 0; p < table.pool_count(); ++p) {
      known = known || pool.name == table.pool(p).name;
    }
    if (!known) {
      new_pools.push_back(pool.name);
    }
  }
  if (table.backend_count() + new_rows > shm::kMaxBackends) {
    return "it would need " + std::to_string(table.backend_count() + new_rows) + " backend rows; the table holds " +
           std::to_string(shm::kMaxBackends) + " over the instance's life (restart to compact it)";
  }
  if (table.pool_count() + new_pools.size() > shm::kMaxPools) {
    return "it would need more than " + std::to_string(shm::kMaxPools) + " pools over the instance's life";
  }
  const uint32_t free = slots_.free_count();
  if (free < slots_needed) {
    return "a new generation needs " + std::to_string(slots_needed) + " process slots and " + std::to_string(free) +
           " are free (of " + std::to_string(shm::kMaxSlots) + "); wait for the draining generations to end";
  }
  return std::nullopt;
}

// Rows for every backend `config` names: new ones appended (rows are never
// reused, so ids stay valid in every worker of every generation), weights
// and health policies updated. With `mark_removed`, rows no longer named are
// marked removed: not routable, and drained of their sessions.
void Supervisor::sync_backend_table(const conf::Config& config, bool mark_removed) {
  shm::BackendTable table(*segment_.table());
  std::vector<bool> named(shm::kMaxBackends, false);
  for (const conf::Pool& pool : config.pools) {
    shm::HealthPolicy policy;
    if (pool.health) {
      policy = shm::HealthPolicy{pool.health->rise, pool.health->fall};
    }
    for (const conf::Backend& b : pool.backends) {
      const std::string address = b.endpoint.to_string();
      uint32_t id = 0;
      if (auto found = table.find_backend(pool.name, address)) {
        id = *found;
        table.update_backend(id, b.weight, policy);
        if (table.backend(id).admin_state.load() == static_cast<uint32_t>(shm::BackendState::removed)) {
          table.set_admin_state(id, shm::BackendState::up);
          segment_.table()->control.backends[id].drain_rate.store(0);
          LOG_INFO("backend %s of pool %s is configured again", address.c_str(), pool.name.c_str());
        }
      } else {
        id = table.add_backend(pool.name, address, b.weight, policy);
      }
      named[id] = true;
    }
  }
  if (!mark_removed) {
    return;
  }
  for (uint32_t id = 0; id < table.backend_count(); ++id) {
    if (!named[id] && table.backend(id).admin_state.load() != static_cast<uint32_t>(shm::BackendState::removed)) {
      // Its sessions are moved off like a `wsgate drain` at the default
      // pace (1012, or a silent move in a `reconnect` pool).
      std::string err;
      if (!shm::start_drain(*segment_.table(), id, shm::kDefaultMoveRate, err, shm::BackendState::removed)) {
        table.set_admin_state(id, shm::BackendState::removed);
        LOG_ERROR("backend %s of pool %s: cannot drain it: %s", table.backend(id).address, table.backend(id).pool,
                  err.c_str());
      }
      LOG_INFO("backend %s of pool %s was removed: no new sessions; its %lld sessions move off at %u/s",
               table.backend(id).address, table.backend(id).pool, static_cast<long long>(table.sessions(id)),
               shm::kDefaultMoveRate);
    }
  }
}

}  // namespace wsgate::master
