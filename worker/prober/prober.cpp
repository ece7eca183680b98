#include "worker/prober/prober.h"

#include <uv.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "shm/backend_table.h"
#include "worker/log/log.h"
#include "worker/net/endpoint_address.h"
#include "worker/net/exit_codes.h"
#include "worker/net/role_runtime.h"
#include "worker/net/uv_handle.h"
#include "worker/prober/prober_check.h"

namespace wsgate::worker {

namespace {

// One backend's checks. Its timer is the next check's due time while idle and
// the running check's deadline while one runs: checks of a backend never
// overlap, and start `interval` apart (the loader keeps timeout <= interval),
// so a backend that stops answering is down within interval * fall + timeout.
class BackendProber {
 public:
  BackendProber(ProberContext& ctx, shm::BackendTable& table, uint32_t id, std::string label,
                const sockaddr_storage& address, std::string host, const conf::Health& health)
      : ctx_(ctx),
        table_(table),
        id_(id),
        label_(std::move(label)),
        address_(address),
        host_(std::move(host)),
        health_(health),
        seen_changes_(table.backend(id).state_changes.load(std::memory_order_relaxed)) {}

  bool start() {
    int r = timer_.init(uv_timer_init, ctx_.loop, this);
    if (r != 0) {
      LOG_ERROR("uv_timer_init() failed (%s) for backend %s", log::uv_error_text(r).c_str(), label_.c_str());
      return false;
    }
    uv_timer_start(timer_.get(), &BackendProber::on_timer, 0, 0);
    return true;
  }

  // Abandons a running check: its result would come after the stop.
  void stop() {
    timer_.close();
    check_.reset();
  }

 private:
  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<BackendProber*>(t->data);
    if (self == nullptr) {
      return;
    }
    if (self->check_ && !self->check_->finished()) {
      self->check_->time_out(self->health_.timeout.count());
    } else {
      self->begin_check();
    }
  }

  void begin_check() {
    // The previous check is finished and we are in a timer callback, not in
    // one of its own: it can go now. One check object per backend at a time.
    check_.reset();
    started_ms_ = uv_now(ctx_.loop);
    uv_timer_start(timer_.get(), &BackendProber::on_timer, static_cast<uint64_t>(health_.timeout.count()), 0);
    check_ = std::make_unique<ProbeCheck>(ctx_, address_, host_, health_.path,
                                          [this](const ProbeOutcome& o) { on_check_done(o); });
    check_->start();  // may finish (and re-arm the timer) at once
  }

  void on_check_done(const ProbeOutcome& outcome) {
    note_passive_transition();
    shm::CheckResult result{outcome.ok, outcome.rtt_us, outcome.error};
    shm::Transition t = table_.record_check(id_, result, shm::monotonic_ms());
    seen_changes_ = entry().state_changes.load(std::memory_order_relaxed);
    log_outcome(outcome, t);
    uint64_t elapsed = uv_now(ctx_.loop) - started_ms_;
    uint64_t interval = static_cast<uint64_t>(health_.interval.count());
    uv_timer_start(timer_.get(), &BackendProber::on_timer, interval > elapsed ? interval - elapsed : 0, 0);
  }

  // Workers take a backend down after `fall` failed dials or upgrades but do
  // not log it (they serve clients); the prober says so for them.
  void note_passive_transition() {
    uint32_t changes = entry().state_changes.load(std::memory_order_relaxed);
    if (changes != seen_changes_ && table_.health(id_) == shm::BackendState::down) {
      LOG_WARN("backend %s was taken down by failed dials or upgrades in the workers: %s", label_.c_str(),
               table_.last_error(id_).c_str());
    }
    seen_changes_ = changes;
  }

  void log_outcome(const ProbeOutcome& outcome, shm::Transition t) {
    const shm::BackendEntry& e = entry();
    if (t == shm::Transition::went_down) {
      LOG_WARN("backend %s is down after %u failed checks: %s", label_.c_str(), e.consecutive_failures.load(),
               outcome.error.c_str());
    } else if (t == shm::Transition::went_up) {
      LOG_INFO("backend %s is up again after %u good checks (round trip %.1f ms)", label_.c_str(),
               e.consecutive_ok.load(), static_cast<double>(outcome.rtt_us) / 1000.0);
    } else if (!outcome.ok && table_.health(id_) == shm::BackendState::up) {
      LOG_INFO("check of backend %s failed (%u of %u before it is taken down): %s", label_.c_str(),
               e.consecutive_failures.load(), health_.fall, outcome.error.c_str());
    } else if (!outcome.ok) {
      LOG_DEBUG("check of backend %s failed again: %s", label_.c_str(), outcome.error.c_str());
    }
  }

  const shm::BackendEntry& entry() const { return table_.backend(id_); }

  ProberContext& ctx_;
  shm::BackendTable& table_;
  uint32_t id_;
  std::string label_;  // "chat/127.0.0.1:9001"
  sockaddr_storage address_;
  std::string host_;
  conf::Health health_;
  UvHandle<uv_timer_t> timer_;
  std::unique_ptr<ProbeCheck> check_;
  uint64_t started_ms_ = 0;
  uint32_t seen_changes_;
};

class Prober {
 public:
  explicit Prober(const ProberArgs& args)
      : args_(args),
        table_(*args.table),
        runtime_({args.table, args.slot, args.generation, shm::SlotRole::prober, args.master_alive_fd}) {}
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;
  int run();

 private:
  bool setup_backends();
  void stop(const char* why);

  const ProberArgs& args_;
  shm::BackendTable table_;
  RoleRuntime runtime_;  // before every handle's owner: destroyed after them
  ProberContext ctx_;
  std::vector<std::unique_ptr<BackendProber>> backends_;
};

Prober::~Prober() {
  backends_.clear();
  runtime_.close();
}

int Prober::run() {
  if (!runtime_.start([this](const char* why) { stop(why); })) {
    return kExitFatal;
  }
  ctx_.loop = runtime_.loop();
  if (!setup_backends()) {
    return kExitFatal;
  }
  runtime_.ready("prober for slot %u ready: checking %zu backends (generation %u)", args_.slot, backends_.size(),
                 args_.generation);
  return runtime_.run();
}

// Every backend of every pool with `health`, matched to its row of the shared
// table by pool and address, its socket address resolved once.
bool Prober::setup_backends() {
  for (const conf::Pool& pool : args_.config->pools) {
    if (!pool.health) {
      continue;
    }
    for (const conf::Backend& b : pool.backends) {
      std::string address = b.endpoint.to_string();
      uint32_t id = 0;
      while (id < table_.backend_count() &&
             (pool.name != table_.backend(id).pool || address != table_.backend(id).address)) {
        ++id;
      }
      if (id == table_.backend_count()) {
        LOG_ERROR("backend %s of pool %s is missing from the shared table", address.c_str(), pool.name.c_str());
        return false;
      }
      sockaddr_storage ss{};
      const int r = endpoint_address(b.endpoint, ss);
      if (r != 0) {
        LOG_ERROR("cannot use address %s of pool %s (%s)", address.c_str(), pool.name.c_str(),
                  log::uv_error_text(r).c_str());
        return false;
      }
      auto prober =
          std::make_unique<BackendProber>(ctx_, table_, id, pool.name + "/" + address, ss, address, *pool.health);
      if (!prober->start()) {
        return false;
      }
      backends_.push_back(std::move(prober));
    }
  }
  return true;
}

// Checks hold nothing a client waits for: drop them and let the loop end.
void Prober::stop(const char* why) {
  LOG_INFO("stopping (%s)", why);
  for (auto& b : backends_) {
    b->stop();
  }
  runtime_.close();
}

}  // namespace

int run_prober(const ProberArgs& args) {
  Prober p(args);
  return p.run();
}

}  // namespace wsgate::worker
