// The master's side of systemd's notify protocol (Type=notify).
#include <algorithm>

#include "master/supervisor.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

constexpr int64_t kLoopTickMs = 200;
constexpr int64_t kReadyPollMs = 20;
constexpr int64_t kStatusEveryMs = 2000;

}  // namespace

void Supervisor::notify_tick() {
  if (!notifier_.enabled()) {
    return;
  }
  int64_t now = shm::monotonic_ms();
  if (notifier_.watchdog_interval_ms() > 0 && now >= watchdog_due_ms_) {
    notifier_.watchdog();
    watchdog_due_ms_ = now + notifier_.watchdog_interval_ms();
  }
  const Generation* g = generations_.find(GenState::active);
  if (!ready_notified_ && !stopping_ && g != nullptr && proxies_claimed(*g) == g->config->workers) {
    ready_notified_ = true;
    notify_ready();
    LOG_INFO("all %u workers ready; told systemd", g->config->workers);
    return;
  }
  std::string text = status_text();
  if (text != status_sent_ && now - status_sent_ms_ >= kStatusEveryMs) {
    notifier_.status(text);
    status_sent_ = std::move(text);
    status_sent_ms_ = now;
  }
}

void Supervisor::notify_ready() {
  status_sent_ = status_text();
  status_sent_ms_ = shm::monotonic_ms();
  notifier_.ready(status_sent_);
}

// A proxy slot counts once the process the master forked for it has
// written its own pid into the table (Worker::run, after its setup worked).
uint32_t Supervisor::proxies_claimed(const Generation& g) const {
  const shm::Table& table = *segment_.table();
  uint32_t claimed = 0;
  for (uint32_t s : g.slots) {
    if (slots_[s].alive() && table.slots[s].pid.load(std::memory_order_acquire) == slots_[s].pid) {
      ++claimed;
    }
  }
  return claimed;
}

std::string Supervisor::status_text() const {
  const shm::Table& table = *segment_.table();
  uint64_t connections = 0;
  for (const auto& g : generations_) {
    for (uint32_t s : g->slots) {
      connections += table.slots[s].connections.load(std::memory_order_relaxed);
    }
  }
  const std::string conns = std::to_string(connections) + (connections == 1 ? " connection" : " connections");
  if (stopping_) {
    return (quitting_ ? "draining to stop: " : "stopping: ") + conns + " left";
  }
  const Generation* g = generations_.find(GenState::active);
  if (g == nullptr) {
    return "starting";
  }
  const uint32_t workers = g->config->workers;
  const uint32_t claimed = proxies_claimed(*g);
  const std::string wtext = std::to_string(workers) + (workers == 1 ? " worker" : " workers");
  if (!ready_notified_) {
    return "starting: " + std::to_string(claimed) + " of " + wtext + " ready";
  }
  const std::string up = claimed == workers ? wtext : std::to_string(claimed) + " of " + wtext + " up";
  std::string text = up + ", " + conns + ", generation " + std::to_string(g->id);
  const uint32_t retiring = generations_.retiring_count();
  if (retiring > 0) {
    // "draining" is what operators have always read here.
    text += ", " + std::to_string(retiring) + (retiring == 1 ? " generation" : " generations") + " draining";
  }
  return text;
}

int64_t Supervisor::wait_ms() const {
  int64_t ms = kLoopTickMs;
  if (generations_.find(GenState::starting) != nullptr) {
    ms = kReadyPollMs;  // a new generation takes over as soon as it is ready
  }
  if (!notifier_.enabled()) {
    return ms;
  }
  if (!ready_notified_ && !stopping_) {
    ms = kReadyPollMs;
  }
  if (notifier_.watchdog_interval_ms() > 0) {
    ms = std::clamp<int64_t>(watchdog_due_ms_ - shm::monotonic_ms(), 0, ms);
  }
  return ms;
}

}  // namespace wsgate::master
