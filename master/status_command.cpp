#include "master/status_command.h"

#include <cstdio>
#include <ctime>
#include <iomanip>
#include <optional>
#include <sstream>

#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "shm/segment.h"
#include "shm/stream_segment.h"
#include "worker/report/control_report.h"
#include "worker/report/status_json.h"
#include "worker/report/status_names.h"

namespace wsgate::master {

namespace {

// "3/0": good and failed results in a row; "-" for a backend without checks.
std::string checks_text(const shm::BackendEntry& e) {
  if (e.fall == 0) {
    return "-";
  }
  return std::to_string(e.consecutive_ok.load()) + "/" + std::to_string(e.consecutive_failures.load());
}

void print_text(const shm::Table& table, const shm::BackendTable& t, int64_t now, std::ostream& out) {
  out << "workers:\n";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << "  slot " << s << "  " << worker::slot_role_name(t.slot(s).role.load()) << "  pid " << t.slot(s).pid.load()
        << "  connections " << t.slot(s).connections.load() << "  respawns " << t.slot(s).respawns.load()
        << "  generation " << t.slot(s).generation.load()
        << (t.slot(s).drain_deadline_ms.load() != 0 ? "  draining" : "") << "\n";
  }
  out << "generation " << table.header.generation.load() << " accepts; " << table.header.draining_generations.load()
      << " draining; reloads: " << table.header.reloads_ok.load() << " ok, " << table.header.reloads_failed.load()
      << " failed\n";
  out << "backends:\n";
  out << "  " << std::left << std::setw(16) << "POOL" << std::setw(24) << "ADDRESS" << std::setw(10) << "STATE"
      << std::setw(10) << "SESSIONS" << std::setw(10) << "RTT MS" << std::setw(10) << "OK/FAIL"
      << "PER WORKER\n";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    const shm::BackendEntry& e = t.backend(b);
    out << "  " << std::setw(16) << e.pool << std::setw(24) << e.address << std::setw(10)
        << worker::backend_state_name(t, b, now) << std::setw(10) << t.sessions(b) << std::setw(10)
        << worker::format_rtt_ms(e.rtt_us.load(), "-") << std::setw(10) << checks_text(e);
    for (uint32_t s = 0; s < t.slot_count(); ++s) {
      out << (s ? " " : "") << t.sessions_in_slot(s, b);
    }
    out << "\n";
    if (std::string drain = worker::drain_text(table, b); !drain.empty()) {
      out << "    " << drain << "\n";
    }
    // Free text of any length: on its own line rather than in a column.
    std::string error = t.last_error(b);
    if (!error.empty()) {
      out << "    last error: " << error << "\n";
    }
  }
  out << worker::control_text(table);  // rebalance and per-IP limits, when there is anything to say
}

void print_channels_text(const shm::StreamsHeader& h, std::ostream& out) {
  const shm::ChannelTable t(const_cast<shm::StreamsHeader&>(h));
  out << "streams:\n";
  out << "  " << std::left << std::setw(16) << "STREAM" << std::setw(24) << "CHANNEL" << std::setw(12) << "UPSTREAM"
      << std::setw(13) << "SUBSCRIBERS" << std::setw(12) << "MESSAGES"
      << "CONNECTS\n";
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (worker::channel_active(e)) {
      out << "  " << std::setw(16) << e.stream << std::setw(24) << (e.path[0] ? e.path : "-") << std::setw(12)
          << worker::upstream_state_name(e.upstream.load()) << std::setw(13) << t.subscribers(ch) << std::setw(12)
          << e.messages_in.load() << e.connects.load() << "\n";
    }
  }
}

}  // namespace

void print_certificates_text(const shm::Table& table, std::ostream& out) {
  const std::vector<shm::CertificateRecord> certs = shm::read_certificates(table.certificates);
  if (certs.empty()) {
    return;
  }
  out << "certificates:\n";
  const int64_t wall = static_cast<int64_t>(time(nullptr));
  for (const shm::CertificateRecord& c : certs) {
    char when[32] = "?";
    const time_t t = static_cast<time_t>(c.not_after);
    tm utc{};
    if (gmtime_r(&t, &utc) != nullptr) {
      strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &utc);
    }
    const int64_t days = (c.not_after - wall) / 86400;
    out << "  " << c.listener << "  " << c.names << "  not after " << when << " ("
        << (c.not_after <= wall ? "EXPIRED" : std::to_string(days) + " days") << ")  " << c.file << "\n";
  }
}

void print_status(const shm::Table& table, const shm::StreamsHeader* streams, bool json, std::ostream& out) {
  // A read-only view: BackendTable's readers never write.
  const shm::BackendTable t(const_cast<shm::Table&>(table));
  int64_t now = shm::monotonic_ms();
  if (json) {
    out << worker::status_json(table, streams, now);
  } else {
    print_text(table, t, now, out);
    if (streams != nullptr) {
      print_channels_text(*streams, out);
    }
    print_certificates_text(table, out);
  }
}

int run_status_command(const std::string& shm_name, bool json, std::ostream& out, std::ostream& err) {
  try {
    shm::Segment seg = shm::Segment::attach_read_only(shm_name);
    std::optional<shm::StreamSegment> streams;
    try {
      streams.emplace(shm::StreamSegment::attach_read_only(
          shm::StreamSegment::name_for(shm_name, seg.table()->header.stream_set.load())));
    } catch (const shm::SegmentError&) {
      // No streams configured (or none yet): the report simply has none.
    }
    print_status(*seg.table(), streams ? streams->header() : nullptr, json, out);
    return 0;
  } catch (const shm::SegmentError& e) {
    err << "wsgate status: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace wsgate::master
