#include "master/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "conf/loader.h"
#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "worker/log.h"
#include "worker/feeder.h"
#include "worker/prober.h"
#include "worker/worker.h"

namespace wsgate::master {

namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1};
constexpr int64_t kQuickDeathMs = 1000;
constexpr int kQuickDeathsBeforeThrottle = 5;
constexpr int64_t kLoopTickMs = 200;
constexpr int64_t kReadyPollMs = 20;
constexpr int64_t kStatusEveryMs = 2000;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kHandledSignals) {
    sigaddset(&set, s);
  }
  return set;
}

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

bool any_pool_checked(const conf::Config& config) {
  for (const conf::Pool& pool : config.pools) {
    if (pool.health) {
      return true;
    }
  }
  return false;
}

}  // namespace

Supervisor::Supervisor(conf::Config config, const std::string& shm_name)
    : config_(std::move(config)),
      listeners_(config_.listen, config_.workers),
      segment_(shm::Segment::create(shm_name, getpid())) {
  // The prober's slot follows the proxy workers' when any pool has checks,
  // then the feeder's when there are streams.
  uint32_t slots = config_.workers;
  if (any_pool_checked(config_)) {
    prober_slot_ = slots++;
  }
  if (!config_.streams.empty()) {
    feeder_slot_ = slots++;
  }
  slots_.resize(slots);
  fill_table();
  setup_streams();
  if (pipe2(alive_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe() failed: ") + strerror(errno));
  }
}

Supervisor::~Supervisor() {
  for (int fd : alive_pipe_) {
    if (fd >= 0) {
      close(fd);
    }
  }
  for (int fd : worker_wake_fds_) {
    close(fd);
  }
  if (feeder_wake_fd_ >= 0) {
    close(feeder_wake_fd_);
  }
}

// The ring segment and the eventfds exist before any fork, so every child
// inherits the same ones and a respawned child finds them unchanged.
void Supervisor::setup_streams() {
  if (config_.streams.empty()) {
    return;
  }
  stream_plan_ = worker::plan_streams(config_);
  streams_.emplace(shm::StreamSegment::create(shm::StreamSegment::name_for(segment_.name()), getpid(),
                                              stream_plan_.channels));
  auto make_fd = [] {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      throw std::runtime_error(std::string("eventfd() failed: ") + strerror(errno));
    }
    return fd;
  };
  for (uint32_t s = 0; s < config_.workers; ++s) {
    worker_wake_fds_.push_back(make_fd());
  }
  feeder_wake_fd_ = make_fd();
}

const char* Supervisor::role_name(uint32_t slot) const {
  return is_prober_slot(slot) ? "prober" : is_feeder_slot(slot) ? "feeder" : "worker";
}

void Supervisor::fill_table() {
  shm::BackendTable table(*segment_.table());
  for (const conf::Pool& pool : config_.pools) {
    shm::HealthPolicy policy;
    if (pool.health) {
      policy = shm::HealthPolicy{pool.health->rise, pool.health->fall};
    }
    for (const conf::Backend& b : pool.backends) {
      table.add_backend(pool.name, b.endpoint.to_string(), b.weight, policy);
    }
  }
  table.set_slot_count(static_cast<uint32_t>(slots_.size()));
  segment_.table()->header.started_ms.store(static_cast<int64_t>(time(nullptr)) * 1000);
}

int Supervisor::run() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    spawn(s);
  }
  std::string where;
  for (const auto& ep : config_.listen) {
    where += (where.empty() ? "" : ", ") + ep.to_string();
  }
  LOG_INFO("wsgate %s started: %u workers listening on %s%s%s, shared memory /dev/shm/%s", WSGATE_VERSION,
           config_.workers, where.c_str(), prober_slot_ != kNoSlot ? ", a health prober" : "",
           feeder_slot_ != kNoSlot ? ", a stream feeder" : "", segment_.name().c_str());
  notify_tick();
  while (!stopping_ || any_worker_alive()) {
    int64_t ms = wait_ms();
    timespec wait{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig == SIGCHLD) {
      reap_children();
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
      begin_stop(sig);
    } else if (sig == SIGHUP) {
      handle_sighup();
    }
    reap_children();  // SIGCHLDs coalesce: always look
    respawn_due();
    kill_stragglers();
    notify_tick();
  }
  LOG_INFO("all workers stopped; exiting");
  return 0;
}

void Supervisor::kill_stragglers() {
  if (stopping_ && shm::monotonic_ms() >= stop_deadline_ms_ && any_worker_alive()) {
    for (const Slot& s : slots_) {
      if (s.pid > 0) {
        LOG_WARN("child pid %d did not stop by the deadline; killing it", s.pid);
        kill(s.pid, SIGKILL);
      }
    }
    stop_deadline_ms_ = shm::monotonic_ms() + 1000;
  }
}

void Supervisor::spawn(uint32_t slot) {
  pid_t pid = fork();
  if (pid < 0) {
    LOG_ERROR("fork() for %s slot %u failed (%d: %s); retrying in 1 s", role_name(slot), slot, errno,
              strerror(errno));
    slots_[slot].respawn_at_ms = shm::monotonic_ms() + 1000;
    return;
  }
  if (pid == 0) {
    become_worker(slot);
  }
  slots_[slot].pid = pid;
  slots_[slot].spawned_ms = shm::monotonic_ms();
  slots_[slot].respawn_at_ms = 0;
}

// The child of fork() for `slot`: a proxy worker, or the health prober in
// the slot after them. Both roles shed what belongs to other slots.
void Supervisor::become_worker(uint32_t slot) {
  const bool prober = is_prober_slot(slot);
  const bool feeder = is_feeder_slot(slot);
  log::set_process_label(prober || feeder ? std::string(role_name(slot)) : "worker " + std::to_string(slot));
  char name[16];  // the kernel keeps 15 characters
  if (prober || feeder) {
    snprintf(name, sizeof name, "wsgate-%s", role_name(slot));
  } else {
    snprintf(name, sizeof name, "wsgate-w%u", slot);
  }
  prctl(PR_SET_NAME, name);
  // Belt and braces with the pipe below: a worker never outlives its master.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) {
    _exit(worker::kExitOk);  // the master died between fork() and prctl()
  }
  sigset_t set = handled_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  close(alive_pipe_[1]);
  for (uint32_t other = 0; other < listeners_.slots(); ++other) {
    if (other != slot) {
      for (int fd : listeners_.for_slot(other)) {
        close(fd);
      }
    }
  }
  if (prober) {
    worker::ProberArgs args;
    args.config = &config_;
    args.table = segment_.table();
    args.slot = slot;
    args.generation = generation_;
    args.master_alive_fd = alive_pipe_[0];
    _exit(worker::run_prober(args));
  }
  if (feeder) {
    worker::FeederArgs args;
    args.config = &config_;
    args.table = segment_.table();
    args.streams = streams_->header();
    args.slot = slot;
    args.generation = generation_;
    args.wake_fd = feeder_wake_fd_;
    args.worker_fds = worker_wake_fds_;
    args.master_alive_fd = alive_pipe_[0];
    _exit(worker::run_feeder(args));
  }
  worker::WorkerArgs args;
  args.config = &config_;
  args.table = segment_.table();
  args.slot = slot;
  args.generation = generation_;
  args.listen_fds = listeners_.for_slot(slot);
  args.master_alive_fd = alive_pipe_[0];
  if (streams_) {
    args.streams = streams_->header();
    args.stream_ranges = stream_plan_.ranges;
    args.stream_wake_fd = worker_wake_fds_[slot];
    args.feeder_wake_fd = feeder_wake_fd_;
  }
  int code = worker::run_worker(args);
  // _exit: the parent's objects copied into this process (the segment, the
  // sockets) belong to the master; they must not be torn down here.
  _exit(code);
}

void Supervisor::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].pid == pid) {
        on_worker_exit(s, status);
      }
    }
  }
}

void Supervisor::on_worker_exit(uint32_t slot, int status) {
  Slot& s = slots_[slot];
  pid_t pid = s.pid;
  s.pid = 0;
  // Its sessions died with it: take them out of the load so routing stays exact.
  shm::BackendTable table(*segment_.table());
  table.clear_slot(slot);
  if (streams_) {
    shm::ChannelTable(*streams_->header()).clear_slot(slot);  // its subscribers died with it
  }
  const char* role = role_name(slot);
  if (stopping_) {
    LOG_INFO("%s %u (pid %d) %s", role, slot, pid, exit_text(status).c_str());
    return;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == worker::kExitFatal) {
    s.fatal = true;
    if (is_feeder_slot(slot)) {
      LOG_ERROR("feeder %u (pid %d) hit a fatal error; not respawning it: streams get no new messages (see its "
                "log above)", slot, pid);
    } else if (is_prober_slot(slot)) {
      // The proxy still works on passive health alone; say what was lost.
      LOG_ERROR("prober %u (pid %d) hit a fatal error; not respawning it: backends are no longer actively "
                "checked (see its log above)", slot, pid);
    } else {
      LOG_ERROR("worker %u (pid %d) hit a fatal error; not respawning it (see its log above)", slot, pid);
    }
    if (all_proxies_fatal()) {
      begin_stop(SIGTERM);
    }
    return;
  }
  int64_t now = shm::monotonic_ms();
  s.quick_deaths = now - s.spawned_ms < kQuickDeathMs ? s.quick_deaths + 1 : 0;
  table.note_respawn(slot);
  if (s.quick_deaths >= kQuickDeathsBeforeThrottle) {
    LOG_ERROR("%s %u (pid %d) %s, %d times in a row right after start; respawning in 1 s", role, slot, pid,
              exit_text(status).c_str(), s.quick_deaths);
    s.respawn_at_ms = now + 1000;
    return;
  }
  LOG_WARN("%s %u (pid %d) %s; respawning it into the same slot", role, slot, pid, exit_text(status).c_str());
  spawn(slot);
}

void Supervisor::respawn_due() {
  int64_t now = shm::monotonic_ms();
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (!stopping_ && slots_[s].pid == 0 && slots_[s].respawn_at_ms != 0 && now >= slots_[s].respawn_at_ms) {
      spawn(s);
    }
  }
}

void Supervisor::begin_stop(int signum) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  // Workers close every session with 1001 within close_timeout; give them a margin.
  stop_deadline_ms_ = shm::monotonic_ms() + config_.limits.close_timeout.count() + 2000;
  LOG_INFO("%s received: stopping the workers", strsignal(signum));
  status_sent_ = status_text();
  status_sent_ms_ = shm::monotonic_ms();
  notifier_.stopping(status_sent_);
  for (const Slot& s : slots_) {
    if (s.pid > 0) {
      kill(s.pid, SIGTERM);
    }
  }
}

// Only proxy workers serve clients: with all of them unable to start there
// is nothing left to run, whatever the prober does.
bool Supervisor::all_proxies_fatal() const {
  for (uint32_t s = 0; s < config_.workers; ++s) {
    if (!slots_[s].fatal) {
      return false;
    }
  }
  return true;
}

bool Supervisor::any_worker_alive() const {
  for (const Slot& s : slots_) {
    if (s.pid > 0) {
      return true;
    }
  }
  return false;
}

void Supervisor::handle_sighup() {
  // systemd hears of a reload only once it was told we are up, and never
  // "ready" again while stopping.
  const bool tell_systemd = ready_notified_ && !stopping_;
  if (tell_systemd) {
    notifier_.reloading("reloading: checking " + config_.file);
  }
  // A full reload is not in this version; say so rather than pretend. The
  // file is still checked, so the operator learns now whether the next start
  // works, and when it is valid the proxy workers re-read the auth keys
  // files (keys are rotated far more often than anything else changes).
  try {
    conf::load_config(config_.file);
    LOG_WARN("SIGHUP: %s is valid; auth keys files are re-read, but this version applies no other change: "
             "restart wsgate for them", config_.file.c_str());
    if (!config_.auths.empty()) {
      for (uint32_t s = 0; s < config_.workers; ++s) {
        if (slots_[s].pid > 0) {
          kill(slots_[s].pid, SIGHUP);
        }
      }
    }
  } catch (const conf::ConfigError& e) {
    LOG_ERROR("SIGHUP: %s; the running configuration is unchanged", e.what());
  }
  if (tell_systemd) {
    notify_ready();
  }
}

void Supervisor::notify_tick() {
  if (!notifier_.enabled()) {
    return;
  }
  int64_t now = shm::monotonic_ms();
  if (notifier_.watchdog_interval_ms() > 0 && now >= watchdog_due_ms_) {
    notifier_.watchdog();
    watchdog_due_ms_ = now + notifier_.watchdog_interval_ms();
  }
  if (!ready_notified_ && !stopping_ && proxies_claimed() == config_.workers) {
    ready_notified_ = true;
    notify_ready();
    LOG_INFO("all %u workers ready; told systemd", config_.workers);
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
uint32_t Supervisor::proxies_claimed() const {
  const shm::Table& table = *segment_.table();
  uint32_t claimed = 0;
  for (uint32_t s = 0; s < config_.workers; ++s) {
    if (slots_[s].pid > 0 && table.slots[s].pid.load(std::memory_order_acquire) == slots_[s].pid) {
      ++claimed;
    }
  }
  return claimed;
}

std::string Supervisor::status_text() const {
  const shm::Table& table = *segment_.table();
  uint64_t connections = 0;
  for (uint32_t s = 0; s < config_.workers; ++s) {
    connections += table.slots[s].connections.load(std::memory_order_relaxed);
  }
  const std::string conns = std::to_string(connections) + (connections == 1 ? " connection" : " connections");
  const uint32_t claimed = proxies_claimed();
  const std::string workers = std::to_string(config_.workers) + (config_.workers == 1 ? " worker" : " workers");
  if (stopping_) {
    return "stopping: " + conns + " left";
  }
  if (!ready_notified_) {
    return "starting: " + std::to_string(claimed) + " of " + workers + " ready";
  }
  const std::string up = claimed == config_.workers ? workers : std::to_string(claimed) + " of " + workers + " up";
  return up + ", " + conns + ", generation " + std::to_string(generation_);
}

int64_t Supervisor::wait_ms() const {
  int64_t ms = kLoopTickMs;
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
