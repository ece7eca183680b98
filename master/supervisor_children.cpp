// Spawning the slots' processes, and what happens when one exits.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "master/supervisor.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"

namespace wsgate::master {

namespace {

std::string exit_text(int status) {
  if (WIFEXITED(status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "changed state " + std::to_string(status);
}

bool is_fatal(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == worker::kExitFatal; }

}  // namespace

ChildContext Supervisor::child_context() {
  ChildContext ctx;
  ctx.table = segment_.table();
  ctx.alive_read_fd = alive_pipe_[0];
  ctx.alive_write_fd = alive_pipe_[1];
  ctx.listeners = &listeners_;
  ctx.admin_fd = admin_socket_.open() ? admin_socket_.fd() : -1;
  return ctx;
}

void Supervisor::spawn(uint32_t slot) {
  const ChildContext ctx = child_context();
  Slot& me = slots_[slot];
  pid_t pid = -1;
  switch (me.role) {
    case shm::SlotRole::proxy:
      pid = launch_proxy(ctx, slot, me.index, generations_.by_id(me.generation), me.streams.get(), blob_, tls_blobs_, *config_);
      break;
    case shm::SlotRole::prober: pid = launch_prober(ctx, slot, *config_); break;
    case shm::SlotRole::feeder: pid = launch_feeder(ctx, slot, *me.streams); break;
    case shm::SlotRole::admin: {
      const Generation* active = generations_.find(GenState::active);
      pid = launch_admin(ctx, slot, *config_, active != nullptr ? active->streams.get() : nullptr);
      break;
    }
    case shm::SlotRole::none: return;
  }
  if (pid < 0) {
    LOG_ERROR("fork() for %s failed (%d: %s); retrying in 1 s", slots_.label(slot).c_str(), errno, strerror(errno));
    slots_.fork_failed(slot, shm::monotonic_ms());
    return;
  }
  slots_.started(slot, pid, shm::monotonic_ms());
}

void Supervisor::take_proxy_slots(Generation& g) {
  for (uint32_t i = 0; i < g.config->workers; ++i) {
    const uint32_t slot = *slots_.take(shm::SlotRole::proxy);  // check_room made sure there are enough
    slots_[slot].generation = g.id;
    slots_[slot].index = i;
    slots_[slot].streams = g.streams;
    g.slots.push_back(slot);
  }
}

void Supervisor::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    if (auto slot = slots_.find_pid(pid)) {
      on_child_exit(*slot, status);
    }
  }
}

void Supervisor::on_child_exit(uint32_t slot, int status) {
  const Slot& s = slots_[slot];
  const std::string what = slots_.label(slot) + " (pid " + std::to_string(s.pid) + ") " + exit_text(status) +
                           (s.role == shm::SlotRole::proxy ? " [generation " + std::to_string(s.generation) + "]" : "");
  slots_.exited(slot);
  if (stopping_) {
    LOG_INFO("%s", what.c_str());
    return;
  }
  if (s.retire) {
    LOG_INFO("%s; its slot is free", what.c_str());
    slots_.free(slot);
    return;
  }
  if (s.role == shm::SlotRole::proxy) {
    on_proxy_exit(slot, status, what);
    return;
  }
  refill(slot, status, what);
}

void Supervisor::on_proxy_exit(uint32_t slot, int status, const std::string& what) {
  Generation* g = generations_.by_id(slots_[slot].generation);
  if (g == nullptr || g->state == GenState::retiring) {
    // A retiring generation's worker is done (or died): its sessions are
    // gone either way, and nothing new may land on it.
    LOG_INFO("%s; drained", what.c_str());
    slots_.free(slot);
    return;
  }
  if (!is_fatal(status)) {
    refill(slot, status, what);
    return;
  }
  slots_[slot].fatal = true;
  if (g->state == GenState::starting) {
    LOG_ERROR("%s: the new generation cannot start (see its log above)", what.c_str());
    abort_starting("a worker of generation " + std::to_string(g->id) + " could not start");
    return;
  }
  LOG_ERROR("%s: a fatal error; not respawning it (see its log above)", what.c_str());
  if (std::all_of(g->slots.begin(), g->slots.end(), [&](uint32_t s) { return slots_[s].fatal; })) {
    start_failed_ = true;
    begin_stop(SIGTERM);
  }
}

void Supervisor::refill(uint32_t slot, int status, const std::string& what) {
  const Slot& s = slots_[slot];
  switch (slots_.refill(slot, is_fatal(status), shm::monotonic_ms())) {
    case Refill::restart:
      LOG_INFO("%s; starting it again with the new configuration", what.c_str());
      spawn(slot);
      return;
    case Refill::fatal:
      if (s.role == shm::SlotRole::feeder) {
        LOG_ERROR("%s: a fatal error; not respawning it: streams get no new messages (see its log above)",
                  what.c_str());
      } else {
        // The proxy still works on passive health alone; say what was lost.
        LOG_ERROR(
            "%s: a fatal error; not respawning it: backends are no longer actively checked (see its log "
            "above)",
            what.c_str());
      }
      return;
    case Refill::throttled:
      LOG_ERROR("%s, %d times in a row right after start; respawning in 1 s", what.c_str(), s.quick_deaths);
      return;
    case Refill::now:
      LOG_WARN("%s; respawning it into the same slot", what.c_str());
      spawn(slot);
      return;
  }
}

void Supervisor::respawn_due() {
  if (stopping_) {
    return;
  }
  for (uint32_t slot : slots_.due(shm::monotonic_ms())) {
    spawn(slot);
  }
}

}  // namespace wsgate::master
