#include "master/control_command.h"

#include <cstdio>

#include "shm/backend_control.h"
#include "shm/backend_table.h"
#include "shm/segment.h"

namespace wsgate::master {

namespace {

std::string label(const shm::Table& t, uint32_t b) {
  return std::string(t.backends[b].pool) + "/" + t.backends[b].address;
}

// "about 3 s" for `sessions` at `rate`.
std::string duration_text(int64_t sessions, uint32_t rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "about %.0f s", static_cast<double>(sessions) / rate + 0.5);
  return buf;
}

bool other_backend_available(const shm::Table& t, uint32_t backend) {
  const shm::BackendTable bt(const_cast<shm::Table&>(t));
  const int64_t now = shm::monotonic_ms();
  for (uint32_t b = 0; b < bt.backend_count(); ++b) {
    if (b != backend && t.backends[b].pool_index == t.backends[backend].pool_index && bt.available(b, now)) {
      return true;
    }
  }
  return false;
}

int drain(shm::Table& t, const Command& cmd, std::ostream& out, std::ostream& err) {
  std::string why;
  const auto b = shm::find_backend(t, cmd.backend, why);
  if (!b) {
    err << "wsgate drain: " << why << "\n";
    return 1;
  }
  const uint32_t rate = cmd.rate != 0 ? cmd.rate : shm::kDefaultMoveRate;
  const bool alone = !other_backend_available(t, *b);
  if (!shm::start_drain(t, *b, rate, why)) {
    err << "wsgate drain: " << why << "\n";
    return 1;
  }
  const int64_t sessions = shm::drain_progress(t, *b).sessions_left;
  out << "draining " << label(t, *b) << ": no new sessions; " << sessions << " sessions to move off at " << rate
      << "/s (" << duration_text(sessions, rate) << "). `wsgate status` shows the progress.\n";
  if (alone) {
    out << "warning: no other backend of pool " << t.backends[*b].pool
        << " is up: its clients get 503 until one is, and moved sessions are closed (1012)\n";
  }
  return 0;
}

int undrain(shm::Table& t, const Command& cmd, const char* verb, std::ostream& out, std::ostream& err) {
  std::string why;
  const auto b = shm::find_backend(t, cmd.backend, why);
  if (!b) {
    err << "wsgate " << verb << ": " << why << "\n";
    return 1;
  }
  const shm::DrainProgress before = shm::drain_progress(t, *b);
  if (!shm::cancel_drain(t, *b, why)) {
    err << "wsgate " << verb << ": " << why << "\n";
    return 1;
  }
  if (!before.draining) {
    out << label(t, *b) << " was not draining; it stays up\n";
  } else {
    out << label(t, *b) << " takes new sessions again (" << before.moved << " were moved off, " << before.sessions_left
        << " stay on it)\n";
  }
  return 0;
}

int rebalance(shm::Table& t, const Command& cmd, std::ostream& out, std::ostream& err) {
  std::string why;
  if (cmd.cancel) {
    const shm::RebalanceProgress p = shm::rebalance_progress(t);
    if (!shm::cancel_rebalance(t, why)) {
      err << "wsgate rebalance: " << why << "\n";
      return 1;
    }
    out << "rebalance cancelled after moving " << p.moved << " of " << p.planned << " sessions\n";
    return 0;
  }
  const uint32_t rate = cmd.rate != 0 ? cmd.rate : shm::kDefaultMoveRate;
  if (!shm::start_rebalance(t, rate, why)) {
    err << "wsgate rebalance: " << why << "\n";
    return 1;
  }
  const shm::RebalanceProgress p = shm::rebalance_progress(t);
  if (p.state != shm::RebalanceState::running) {
    out << "nothing to rebalance: every backend is within 10% of its fair share\n";
    return 0;
  }
  out << "rebalancing: up to " << p.planned << " sessions to move off over-loaded backends at " << rate << "/s ("
      << duration_text(p.planned, rate) << "); it stops once every backend is within 10% of its fair share. "
      << "`wsgate status` shows the progress.\n";
  return 0;
}

}  // namespace

int run_control_command(const std::string& shm_name, const Command& cmd, std::ostream& out, std::ostream& err) {
  const char* verb = cmd.kind == Command::Kind::rebalance              ? "rebalance"
                     : cmd.kind == Command::Kind::drain && !cmd.cancel ? "drain"
                                                                       : "undrain";
  try {
    shm::Segment seg = shm::Segment::attach_read_write(shm_name);
    shm::Table& t = *seg.table();
    switch (cmd.kind) {
      case Command::Kind::drain:
        return cmd.cancel ? undrain(t, cmd, "drain --cancel", out, err) : drain(t, cmd, out, err);
      case Command::Kind::undrain: return undrain(t, cmd, verb, out, err);
      case Command::Kind::rebalance: return rebalance(t, cmd, out, err);
      default: break;
    }
    err << "wsgate: internal error: not a control command\n";
    return 1;
  } catch (const shm::SegmentError& e) {
    err << "wsgate " << verb << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace wsgate::master
