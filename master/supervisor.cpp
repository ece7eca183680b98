#include "master/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "master/privileges.h"
#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "worker/log/log.h"
#include "worker/feeder/feeder.h"
#include "worker/prober/prober.h"
#include "worker/admin/admin_server.h"
#include "worker/edge/worker.h"

namespace wsgate::master {

namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1};
constexpr int64_t kQuickDeathMs = 1000;
constexpr int kQuickDeathsBeforeThrottle = 5;

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

bool is_fatal(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == worker::kExitFatal; }

// Stream sets after the first ("<name>-streams-2", ...) of a master that died
// without cleaning up: the table segment's owner check found no live master
// of this name, so they are nobody's. (The first set's name is replaced when
// it is created again.)
void remove_stale_stream_sets(const std::string& name) {
  const std::string prefix = name + "-streams-";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string file = entry.path().filename().string();
    if (file.compare(0, prefix.size(), prefix) == 0) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

}  // namespace

Supervisor::Supervisor(conf::Config config, std::string text, const std::string& shm_name)
    : config_(std::make_shared<const conf::Config>(std::move(config))),
      segment_(shm::Segment::create(shm_name, getpid())),
      blob_(shm::ConfigBlob::create(shm_name + "-config")),
      slots_(shm::kMaxSlots) {
  remove_stale_stream_sets(shm_name);
  listeners_.ensure(config_->listen, config_->workers);
  if (config_->admin) {
    admin_socket_ = AdminSocket(*config_->admin);
  }
  if (pipe2(alive_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe() failed: ") + strerror(errno));
  }
  segment_.table()->header.started_ms.store(static_cast<int64_t>(time(nullptr)) * 1000);
  sync_backend_table(*config_, false);
  if (!blob_.publish(text)) {
    throw std::runtime_error(config_->file + " is larger than " + std::to_string(shm::ConfigBlob::kCapacity) +
                             " bytes");
  }
  start_first_generation(text);
}

Supervisor::~Supervisor() {
  for (int fd : alive_pipe_) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

int Supervisor::run() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  running_ = true;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role != Role::free) {
      spawn(s);
    }
  }
  std::string where;
  for (const auto& ep : config_->listen) {
    where += (where.empty() ? "" : ", ") + ep.to_string();
  }
  bool prober = false, feeder = false;
  for (const Slot& s : slots_) {
    prober = prober || s.role == Role::prober;
    feeder = feeder || s.role == Role::feeder;
  }
  LOG_INFO("wsgate %s started: %u workers listening on %s%s%s, shared memory /dev/shm/%s", WSGATE_VERSION,
           config_->workers, where.c_str(), prober ? ", a health prober" : "", feeder ? ", a stream feeder" : "",
           segment_.name().c_str());
  notify_tick();
  while (!stopping_ || any_child_alive()) {
    int64_t ms = wait_ms();
    timespec wait{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig == SIGCHLD) {
      reap_children();
    } else if (sig == SIGTERM || sig == SIGINT) {
      begin_stop(sig);
    } else if (sig == SIGQUIT) {
      begin_quit();
    } else if (sig == SIGHUP) {
      handle_sighup();
    } else if (sig == SIGUSR1) {
      // Log files are reopened by each process (logrotate's postrotate).
      log::reopen();
      for (const Slot& s : slots_) {
        if (s.pid > 0) {
          kill(s.pid, SIGUSR1);
        }
      }
    }
    reap_children();  // SIGCHLDs coalesce: always look
    respawn_due();
    check_starting();
    check_drain_deadlines();
    forget_finished_generations();
    kill_stragglers();
    notify_tick();
  }
  LOG_INFO("all workers stopped; exiting");
  return start_failed_ ? 1 : 0;
}

std::optional<uint32_t> Supervisor::take_free_slot(Role role) {
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role == Role::free && slots_[s].pid == 0) {
      slots_[s] = Slot{};
      slots_[s].role = role;
      publish_slot_count();
      return s;
    }
  }
  return std::nullopt;
}

void Supervisor::free_slot(uint32_t slot) {
  shm::BackendTable(*segment_.table()).release_slot(slot);
  slots_[slot] = Slot{};
  publish_slot_count();
}

// `wsgate status` lists slots up to the highest one in use.
void Supervisor::publish_slot_count() {
  uint32_t n = 0;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role != Role::free) {
      n = s + 1;
    }
  }
  shm::BackendTable(*segment_.table()).set_slot_count(n);
}

std::string Supervisor::slot_label(uint32_t slot) const {
  const Slot& s = slots_[slot];
  switch (s.role) {
    case Role::prober: return "prober " + std::to_string(slot);
    case Role::feeder: return "feeder " + std::to_string(slot);
    case Role::admin: return "admin " + std::to_string(slot);
    case Role::proxy: return "worker " + std::to_string(slot);
    case Role::free: break;
  }
  return "slot " + std::to_string(slot);
}

void Supervisor::kill_stragglers() {
  const int64_t now = shm::monotonic_ms();
  if (stopping_ && now >= stop_deadline_ms_ && any_child_alive()) {
    for (const Slot& s : slots_) {
      if (s.pid > 0) {
        LOG_WARN("child pid %d did not stop by the deadline; killing it", s.pid);
        kill(s.pid, SIGKILL);
      }
    }
    stop_deadline_ms_ = now + 1000;
  }
  // SIGQUIT: the non-proxy roles serve the proxies' sessions (the feeder
  // feeds their subscribers), so they stop only once no proxy is left.
  if (quitting_ && !any_proxy_alive()) {
    for (Slot& s : slots_) {
      if (s.pid > 0 && s.role != Role::proxy && !s.retire) {
        s.retire = true;
        kill(s.pid, SIGTERM);
      }
    }
  }
}

void Supervisor::spawn(uint32_t slot) {
  pid_t pid = fork();
  if (pid < 0) {
    LOG_ERROR("fork() for %s failed (%d: %s); retrying in 1 s", slot_label(slot).c_str(), errno, strerror(errno));
    slots_[slot].respawn_at_ms = shm::monotonic_ms() + 1000;
    return;
  }
  if (pid == 0) {
    become_child(slot);
  }
  slots_[slot].pid = pid;
  slots_[slot].spawned_ms = shm::monotonic_ms();
  slots_[slot].respawn_at_ms = 0;
}

// The child of fork() for `slot`: a proxy worker of its generation, the
// health prober, or a feeder. Every role sheds the sockets it does not serve.
void Supervisor::become_child(uint32_t slot) {
  const Slot& me = slots_[slot];
  const bool prober = me.role == Role::prober;
  const bool feeder = me.role == Role::feeder;
  const bool admin = me.role == Role::admin;
  log::set_process_label(prober ? "prober" : feeder ? "feeder" : admin ? "admin" : "worker " + std::to_string(slot));
  char name[16];  // the kernel keeps 15 characters
  snprintf(name, sizeof name, prober ? "wsgate-prober" : feeder ? "wsgate-feeder" : admin ? "wsgate-admin" : "wsgate-w%u",
           slot);
  prctl(PR_SET_NAME, name);
  // Belt and braces with the pipe below: a worker never outlives its master.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) {
    _exit(worker::kExitOk);  // the master died between fork() and prctl()
  }
  sigset_t set = handled_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Signals meant for the master alone (a terminal's, or `kill` on the
  // process group) must not kill a child that does not watch them.
  signal(SIGHUP, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  close(alive_pipe_[1]);
  const Generation* gen = nullptr;
  for (const auto& g : generations_) {
    if (g->id == me.generation) {
      gen = g.get();
    }
  }
  std::vector<int> mine;
  if (me.role == Role::proxy && gen != nullptr) {
    mine = listeners_.for_worker(gen->config->listen, me.index, gen->config->workers);
  }
  for (int fd : listeners_.all()) {
    if (std::find(mine.begin(), mine.end(), fd) == mine.end()) {
      close(fd);
    }
  }
  if (!admin && admin_socket_.open()) {
    close(admin_socket_.fd());
  }
  // Config `user`/`group`: before any byte from a peer. A proxy worker runs
  // as its generation says (a reload may change the user), a feeder as its
  // stream set's config, the prober as the active config.
  drop_worker_privileges(gen != nullptr ? *gen->config : feeder ? me.streams->config() : *config_);
  const uint32_t generation = segment_.table()->header.generation.load();
  if (prober) {
    worker::ProberArgs args;
    args.config = config_.get();
    args.table = segment_.table();
    args.slot = slot;
    args.generation = generation;
    args.master_alive_fd = alive_pipe_[0];
    _exit(worker::run_prober(args));
  }
  if (admin) {
    const Generation* active = find(GenState::active);
    worker::AdminArgs args;
    args.config = config_.get();
    args.table = segment_.table();
    args.streams = active != nullptr && active->streams ? active->streams->header() : nullptr;
    args.slot = slot;
    args.generation = generation;
    args.listen_fd = admin_socket_.fd();
    args.master_alive_fd = alive_pipe_[0];
    _exit(worker::run_admin(args));
  }
  if (feeder) {
    worker::FeederArgs args;
    args.config = &me.streams->config();
    args.table = segment_.table();
    args.streams = me.streams->header();
    args.slot = slot;
    args.generation = generation;
    args.wake_fd = me.streams->feeder_fd();
    args.worker_fds = me.streams->worker_fds();
    args.master_alive_fd = alive_pipe_[0];
    _exit(worker::run_feeder(args));
  }
  if (gen == nullptr) {
    LOG_ERROR("slot %u has no generation; exiting", slot);
    _exit(worker::kExitFatal);
  }
  worker::WorkerArgs args;
  args.config = gen->config.get();
  args.table = segment_.table();
  args.blob = &blob_;
  args.slot = slot;
  args.generation = gen->id;
  args.listen_fds = std::move(mine);
  args.master_alive_fd = alive_pipe_[0];
  if (me.streams) {
    args.streams = me.streams->header();
    args.stream_ranges = me.streams->plan().ranges;
    args.stream_wake_fd = me.streams->worker_fd(slot);
    args.feeder_wake_fd = me.streams->feeder_fd();
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
        on_child_exit(s, status);
      }
    }
  }
}

void Supervisor::on_child_exit(uint32_t slot, int status) {
  Slot& s = slots_[slot];
  const pid_t pid = s.pid;
  s.pid = 0;
  // Its sessions died with it: take them out of the load so routing stays exact.
  shm::BackendTable table(*segment_.table());
  table.clear_slot(slot);
  if (s.streams) {
    shm::ChannelTable(*s.streams->header()).clear_slot(slot);  // its subscribers died with it
  }
  const std::string what = slot_label(slot) + " (pid " + std::to_string(pid) + ") " + exit_text(status) +
                           (s.role == Role::proxy ? " [generation " + std::to_string(s.generation) + "]" : "");
  if (stopping_) {
    LOG_INFO("%s", what.c_str());
    return;
  }
  if (s.retire) {
    LOG_INFO("%s; its slot is free", what.c_str());
    free_slot(slot);
    return;
  }
  if (s.role == Role::proxy) {
    on_proxy_exit(slot, status, what);
    return;
  }
  restart_or_respawn(slot, status, what);
}

void Supervisor::on_proxy_exit(uint32_t slot, int status, const std::string& what) {
  Generation* g = generation(slots_[slot].generation);
  if (g == nullptr || g->state == GenState::draining) {
    // A draining generation's worker is done (or died): its sessions are
    // gone either way, and nothing new may land on it.
    LOG_INFO("%s; drained", what.c_str());
    free_slot(slot);
    return;
  }
  if (is_fatal(status)) {
    if (g->state == GenState::starting) {
      LOG_ERROR("%s: the new generation cannot start (see its log above)", what.c_str());
      slots_[slot].fatal = true;
      abort_starting("a worker of generation " + std::to_string(g->id) + " could not start");
      return;
    }
    slots_[slot].fatal = true;
    LOG_ERROR("%s: a fatal error; not respawning it (see its log above)", what.c_str());
    const bool all_fatal = std::all_of(g->slots.begin(), g->slots.end(), [&](uint32_t s) { return slots_[s].fatal; });
    if (all_fatal) {
      start_failed_ = true;
      begin_stop(SIGTERM);
    }
    return;
  }
  restart_or_respawn(slot, status, what);
}

// Refill the slot with the same role: at once, or throttled when it keeps
// dying right after start.
void Supervisor::restart_or_respawn(uint32_t slot, int status, const std::string& what) {
  Slot& s = slots_[slot];
  if (s.restart) {
    s.restart = false;
    LOG_INFO("%s; starting it again with the new configuration", what.c_str());
    spawn(slot);
    return;
  }
  if (is_fatal(status)) {
    s.fatal = true;
    if (s.role == Role::feeder) {
      LOG_ERROR("%s: a fatal error; not respawning it: streams get no new messages (see its log above)",
                what.c_str());
    } else {
      // The proxy still works on passive health alone; say what was lost.
      LOG_ERROR("%s: a fatal error; not respawning it: backends are no longer actively checked (see its log "
                "above)", what.c_str());
    }
    return;
  }
  const int64_t now = shm::monotonic_ms();
  s.quick_deaths = now - s.spawned_ms < kQuickDeathMs ? s.quick_deaths + 1 : 0;
  shm::BackendTable(*segment_.table()).note_respawn(slot);
  if (s.quick_deaths >= kQuickDeathsBeforeThrottle) {
    LOG_ERROR("%s, %d times in a row right after start; respawning in 1 s", what.c_str(), s.quick_deaths);
    s.respawn_at_ms = now + 1000;
    return;
  }
  LOG_WARN("%s; respawning it into the same slot", what.c_str());
  spawn(slot);
}

void Supervisor::respawn_due() {
  const int64_t now = shm::monotonic_ms();
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (!stopping_ && slot.role != Role::free && slot.pid == 0 && slot.respawn_at_ms != 0 &&
        now >= slot.respawn_at_ms) {
      spawn(s);
    }
  }
}

void Supervisor::begin_stop(int signum) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  quitting_ = false;
  // Workers close every session with 1001 within close_timeout; give them a margin.
  stop_deadline_ms_ = shm::monotonic_ms() + config_->limits.close_timeout.count() + 2000;
  LOG_INFO("%s received: stopping the workers", strsignal(signum));
  // Stopping: a connection queued now would only wait for nobody.
  listeners_.keep_only({});
  status_sent_ = status_text();
  status_sent_ms_ = shm::monotonic_ms();
  notifier_.stopping(status_sent_);
  for (const Slot& s : slots_) {
    if (s.pid > 0) {
      kill(s.pid, SIGTERM);
    }
  }
}

// SIGQUIT: stop accepting everywhere and let sessions end by themselves;
// whatever is left at drain_timeout is closed with 1001.
void Supervisor::begin_quit() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  quitting_ = true;
  const int64_t now = shm::monotonic_ms();
  const int64_t drain = config_->drain.drain_timeout.count();
  stop_deadline_ms_ = now + drain + config_->drain.spread().count() + config_->limits.close_timeout.count() + 2000;
  LOG_INFO("SIGQUIT received: no new connections; sessions may finish within %lld ms", static_cast<long long>(drain));
  listeners_.keep_only({});
  status_sent_ = status_text();
  status_sent_ms_ = now;
  notifier_.stopping(status_sent_);
  for (auto& g : generations_) {
    if (g->state == GenState::starting) {
      for (uint32_t s : g->slots) {
        if (slots_[s].pid > 0) {
          kill(slots_[s].pid, SIGTERM);  // never served anyone for long
        }
      }
    } else {
      drain_generation(*g, now + drain);
    }
  }
}

bool Supervisor::any_child_alive() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.pid > 0; });
}

bool Supervisor::any_proxy_alive() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.pid > 0 && s.role == Role::proxy; });
}

}  // namespace wsgate::master
