#include "worker/report/status_json.h"

#include <ctime>
#include <sstream>

#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "worker/log/escape.h"
#include "worker/report/control_report.h"
#include "worker/report/status_names.h"

namespace wsgate::worker {

namespace {

void backend_json(const shm::Table& table, const shm::BackendTable& t, uint32_t b, int64_t now, std::ostream& out) {
  const shm::BackendEntry& e = t.backend(b);
  out << "{\"pool\":" << json_string(e.pool) << ",\"address\":" << json_string(e.address) << ",\"state\":\""
      << backend_state_name(t, b, now) << "\",\"weight\":" << e.weight.load() << ",\"sessions\":" << t.sessions(b)
      << ",\"failures\":" << e.failures_total.load() << ",\"per_worker\":[";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << (s ? "," : "") << t.sessions_in_slot(s, b);
  }
  const int64_t checked = e.last_check_ms.load();
  out << "],\"health\":\"" << backend_health_name(t, b) << "\",\"checks\":\"" << (e.fall > 0 ? "active" : "passive")
      << "\",\"rtt_ms\":" << format_rtt_ms(e.rtt_us.load(), "null") << ",\"checks_ok\":" << e.consecutive_ok.load()
      << ",\"checks_failed\":" << e.consecutive_failures.load() << ",\"state_changes\":" << e.state_changes.load()
      << ",\"last_check_ago_ms\":" << (checked > 0 ? std::to_string(now - checked) : "null")
      << ",\"last_error\":" << json_string(t.last_error(b));
  drain_json(table, b, out);
  out << "}";
}

// Channels in use: fixed ones always, per_path ones while claimed.
void channels_json(const shm::StreamsHeader& h, uint32_t slots, std::ostream& out) {
  const shm::ChannelTable t(const_cast<shm::StreamsHeader&>(h));
  out << ",\"channels\":[";
  bool first = true;
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (!channel_active(e)) {
      continue;
    }
    out << (first ? "" : ",") << "{\"stream\":" << json_string(e.stream) << ",\"path\":" << json_string(e.path)
        << ",\"upstream\":\"" << upstream_state_name(e.upstream.load()) << "\",\"subscribers\":" << t.subscribers(ch)
        << ",\"per_worker\":[";
    for (uint32_t s = 0; s < slots; ++s) {
      out << (s ? "," : "") << e.subscribers[s].load();
    }
    out << "],\"messages\":" << e.messages_in.load() << ",\"bytes\":" << e.bytes_in.load()
        << ",\"connects\":" << e.connects.load() << ",\"oversize\":" << e.oversize.load()
        << ",\"next_seq\":" << e.next_seq.load() << "}";
    first = false;
  }
  out << "]";
}

// What each TLS listener serves; names are the certificate's own (a
// certificate is operator input, but escaped all the same).
void certificates_json(const shm::Table& table, std::ostream& out) {
  const std::vector<shm::CertificateRecord> certs = shm::read_certificates(table.certificates);
  if (certs.empty()) {
    return;
  }
  const int64_t wall = static_cast<int64_t>(time(nullptr));
  out << ",\"certificates\":[";
  for (size_t i = 0; i < certs.size(); ++i) {
    const shm::CertificateRecord& c = certs[i];
    out << (i ? "," : "") << "{\"listener\":" << json_string(c.listener) << ",\"file\":" << json_string(c.file)
        << ",\"names\":" << json_string(c.names) << ",\"not_after\":" << c.not_after
        << ",\"expires_in_s\":" << (c.not_after - wall) << "}";
  }
  out << "]";
}

}  // namespace

std::string status_json(const shm::Table& table, const shm::StreamsHeader* streams, int64_t now) {
  // A read-only view: BackendTable's readers never write.
  const shm::BackendTable t(const_cast<shm::Table&>(table));
  std::ostringstream out;
  out << "{\"workers\":[";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << (s ? "," : "") << "{\"slot\":" << s << ",\"pid\":" << t.slot(s).pid.load()
        << ",\"connections\":" << t.slot(s).connections.load() << ",\"respawns\":" << t.slot(s).respawns.load()
        << ",\"role\":\"" << slot_role_name(t.slot(s).role.load())
        << "\",\"generation\":" << t.slot(s).generation.load()
        << ",\"draining\":" << (t.slot(s).drain_deadline_ms.load() != 0 ? "true" : "false") << "}";
  }
  // Reloads: the generation that accepts, how many older ones are still retiring.
  out << "],\"generation\":" << table.header.generation.load()
      << ",\"draining_generations\":" << table.header.draining_generations.load()
      << ",\"reloads\":{\"ok\":" << table.header.reloads_ok.load()
      << ",\"failed\":" << table.header.reloads_failed.load() << "}";
  out << ",\"backends\":[";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    out << (b ? "," : "");
    backend_json(table, t, b, now, out);
  }
  out << "]";
  control_json(table, out);
  if (streams != nullptr) {
    channels_json(*streams, t.slot_count(), out);
  }
  certificates_json(table, out);
  out << "}\n";
  return out.str();
}

std::string status_json(const shm::Table& table, const shm::StreamsHeader* streams) {
  return status_json(table, streams, shm::monotonic_ms());
}

}  // namespace wsgate::worker
