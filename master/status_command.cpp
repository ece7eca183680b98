#include "master/status_command.h"

#include <iomanip>

#include "shm/backend_table.h"
#include "shm/segment.h"

namespace wsgate::master {

namespace {

const char* state_name(const shm::BackendTable& t, uint32_t b, int64_t now) {
  auto admin = static_cast<shm::BackendState>(t.backend(b).admin_state.load());
  if (admin == shm::BackendState::draining) {
    return "draining";
  }
  return t.available(b, now) ? "up" : "down";
}

// Pool names and addresses are validated by the loader ([A-Za-z0-9_.-] and
// numeric host:port), so they need no JSON escaping beyond what is here.
std::string json_string(const char* s) {
  std::string out = "\"";
  for (const char* p = s; *p; ++p) {
    if (*p == '"' || *p == '\\') {
      out += '\\';
    }
    out += *p;
  }
  return out + "\"";
}

void print_json(const shm::BackendTable& t, int64_t now, std::ostream& out) {
  out << "{\"workers\":[";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << (s ? "," : "") << "{\"slot\":" << s << ",\"pid\":" << t.slot(s).pid.load()
        << ",\"connections\":" << t.slot(s).connections.load() << ",\"respawns\":" << t.slot(s).respawns.load()
        << "}";
  }
  out << "],\"backends\":[";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    out << (b ? "," : "") << "{\"pool\":" << json_string(t.backend(b).pool)
        << ",\"address\":" << json_string(t.backend(b).address) << ",\"state\":\"" << state_name(t, b, now)
        << "\",\"weight\":" << t.backend(b).weight.load() << ",\"sessions\":" << t.sessions(b)
        << ",\"failures\":" << t.backend(b).failures_total.load() << ",\"per_worker\":[";
    for (uint32_t s = 0; s < t.slot_count(); ++s) {
      out << (s ? "," : "") << t.sessions_in_slot(s, b);
    }
    out << "]}";
  }
  out << "]}\n";
}

void print_text(const shm::BackendTable& t, int64_t now, std::ostream& out) {
  out << "workers:\n";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << "  slot " << s << "  pid " << t.slot(s).pid.load() << "  connections " << t.slot(s).connections.load()
        << "  respawns " << t.slot(s).respawns.load() << "\n";
  }
  out << "backends:\n";
  out << "  " << std::left << std::setw(16) << "POOL" << std::setw(24) << "ADDRESS" << std::setw(10) << "STATE"
      << std::setw(10) << "SESSIONS" << "PER WORKER\n";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    out << "  " << std::setw(16) << t.backend(b).pool << std::setw(24) << t.backend(b).address << std::setw(10)
        << state_name(t, b, now) << std::setw(10) << t.sessions(b);
    for (uint32_t s = 0; s < t.slot_count(); ++s) {
      out << (s ? " " : "") << t.sessions_in_slot(s, b);
    }
    out << "\n";
  }
}

}  // namespace

void print_status(const shm::Table& table, bool json, std::ostream& out) {
  // A read-only view: BackendTable's readers never write.
  const shm::BackendTable t(const_cast<shm::Table&>(table));
  int64_t now = shm::monotonic_ms();
  if (json) {
    print_json(t, now, out);
  } else {
    print_text(t, now, out);
  }
}

int run_status_command(const std::string& shm_name, bool json, std::ostream& out, std::ostream& err) {
  try {
    shm::Segment seg = shm::Segment::attach_read_only(shm_name);
    print_status(*seg.table(), json, out);
    return 0;
  } catch (const shm::SegmentError& e) {
    err << "wsgate status: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace wsgate::master
