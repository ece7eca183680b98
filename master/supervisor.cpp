#include "master/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "master/child_process.h"
#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

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

Supervisor::Supervisor(conf::Config config, const std::string& text, const std::string& shm_name)
    : config_(std::make_shared<const conf::Config>(std::move(config))),
      segment_(shm::Segment::create(shm_name, getpid())),
      blob_(shm::ConfigBlob::create(shm_name + "-config")),
      tls_blobs_{shm::ConfigBlob::create(shm_name + "-tls"), shm::ConfigBlob::create(shm_name + "-tickets")},
      slots_(*segment_.table(), [](pid_t pid, int signum) { kill(pid, signum); }) {
  remove_stale_stream_sets(shm_name);
  listeners_.ensure(config_->listen_addresses(), config_->workers);
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
  publish_tls(*config_, read_tls(*config_));  // a bad certificate stops the start here, naming the file
  rotate_tickets_if_due();
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
  sigset_t set = master_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  running_ = true;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].role != shm::SlotRole::none) {
      spawn(s);
    }
  }
  std::string where;
  for (const auto& l : config_->listen) {
    where += (where.empty() ? "" : ", ") + l.address.to_string() + (l.tls ? " (TLS)" : "");
  }
  const bool prober = slots_.find_current(shm::SlotRole::prober).has_value();
  const bool feeder = slots_.find_current(shm::SlotRole::feeder).has_value();
  LOG_INFO("wsgate %s started: %u workers listening on %s%s%s, shared memory /dev/shm/%s", WSGATE_VERSION,
           config_->workers, where.c_str(), prober ? ", a health prober" : "", feeder ? ", a stream feeder" : "",
           segment_.name().c_str());
  notify_tick();
  while (!stopping_ || slots_.any_alive()) {
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
      slots_.signal_all(SIGUSR1);
    }
    rotate_tickets_if_due();
    reap_children();  // SIGCHLDs coalesce: always look
    respawn_due();
    check_starting();
    check_retire_deadlines();
    forget_finished_generations();
    kill_stragglers();
    notify_tick();
  }
  LOG_INFO("all workers stopped; exiting");
  return start_failed_ ? 1 : 0;
}

void Supervisor::kill_stragglers() {
  const int64_t now = shm::monotonic_ms();
  if (stopping_ && now >= stop_deadline_ms_ && slots_.any_alive()) {
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].alive()) {
        LOG_WARN("child pid %d did not stop by the deadline; killing it", slots_[s].pid);
        slots_.signal(s, SIGKILL);
      }
    }
    stop_deadline_ms_ = now + 1000;
  }
  // SIGQUIT: the non-proxy roles serve the proxies' sessions (the feeder
  // feeds their subscribers), so they stop only once no proxy is left.
  if (quitting_ && !slots_.any_alive(shm::SlotRole::proxy)) {
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].alive() && slots_[s].role != shm::SlotRole::proxy && !slots_[s].retire) {
        slots_.retire(s);
      }
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
  slots_.signal_all(SIGTERM);
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
  const int64_t grace = config_->drain.drain_timeout.count();
  stop_deadline_ms_ = now + grace + config_->drain.spread().count() + config_->limits.close_timeout.count() + 2000;
  LOG_INFO("SIGQUIT received: no new connections; sessions may finish within %lld ms", static_cast<long long>(grace));
  listeners_.keep_only({});
  status_sent_ = status_text();
  status_sent_ms_ = now;
  notifier_.stopping(status_sent_);
  for (auto& g : generations_) {
    if (g->state == GenState::starting) {
      for (uint32_t s : g->slots) {
        slots_.signal(s, SIGTERM);  // never served anyone for long
      }
    } else {
      retire_generation(*g, now + grace);
    }
  }
}

}  // namespace wsgate::master
