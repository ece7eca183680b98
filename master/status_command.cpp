#include "master/status_command.h"

#include <cstdio>
#include <iomanip>
#include <sstream>
#include <optional>

#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "shm/stream_segment.h"
#include "shm/segment.h"

namespace wsgate::master {

namespace {

// "draining" is an operator's decision and wins; otherwise a backend is down
// when the prober (or `fall` passive failures) took it down or it is inside
// a passive fail_timeout window.
const char* state_name(const shm::BackendTable& t, uint32_t b, int64_t now) {
  auto admin = static_cast<shm::BackendState>(t.backend(b).admin_state.load());
  if (admin == shm::BackendState::draining) {
    return "draining";
  }
  return t.available(b, now) ? "up" : "down";
}

const char* health_name(const shm::BackendTable& t, uint32_t b) {
  return t.health(b) == shm::BackendState::down ? "down" : "up";
}

const char* role_name(uint32_t role) {
  switch (static_cast<shm::SlotRole>(role)) {
    case shm::SlotRole::proxy: return "proxy";
    case shm::SlotRole::prober: return "prober";
    case shm::SlotRole::feeder: return "feeder";
    case shm::SlotRole::none: break;
  }
  return "none";
}

// Any bytes as a JSON string. The last error is free text (the shared table
// keeps it printable ASCII, but this does not rely on that): quotes,
// backslashes and control bytes are escaped, and bytes above 0x7f, which
// could be invalid UTF-8, become \u00XX.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", byte);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Milliseconds with one decimal ("0.4"), or `none` when nothing was measured.
std::string rtt_ms(int64_t rtt_us, const char* none) {
  if (rtt_us < 0) {
    return none;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(rtt_us) / 1000.0);
  return buf;
}

// The keys up to "per_worker" and their order are a contract with scripts
// (and tests/support/gateway.cpp); new keys go after them.
void print_backend_json(const shm::BackendTable& t, uint32_t b, int64_t now, std::ostream& out) {
  const shm::BackendEntry& e = t.backend(b);
  out << "{\"pool\":" << json_string(e.pool) << ",\"address\":" << json_string(e.address)
      << ",\"state\":\"" << state_name(t, b, now) << "\",\"weight\":" << e.weight.load()
      << ",\"sessions\":" << t.sessions(b) << ",\"failures\":" << e.failures_total.load() << ",\"per_worker\":[";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << (s ? "," : "") << t.sessions_in_slot(s, b);
  }
  const int64_t checked = e.last_check_ms.load();
  out << "],\"health\":\"" << health_name(t, b) << "\",\"checks\":\"" << (e.fall > 0 ? "active" : "passive")
      << "\",\"rtt_ms\":" << rtt_ms(e.rtt_us.load(), "null") << ",\"checks_ok\":" << e.consecutive_ok.load()
      << ",\"checks_failed\":" << e.consecutive_failures.load() << ",\"state_changes\":" << e.state_changes.load()
      << ",\"last_check_ago_ms\":" << (checked > 0 ? std::to_string(now - checked) : "null")
      << ",\"last_error\":" << json_string(t.last_error(b)) << "}";
}

void print_json(const shm::BackendTable& t, int64_t now, std::ostream& out) {
  out << "{\"workers\":[";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << (s ? "," : "") << "{\"slot\":" << s << ",\"pid\":" << t.slot(s).pid.load()
        << ",\"connections\":" << t.slot(s).connections.load() << ",\"respawns\":" << t.slot(s).respawns.load()
        << ",\"role\":\"" << role_name(t.slot(s).role.load()) << "\"}";
  }
  out << "],\"backends\":[";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    out << (b ? "," : "");
    print_backend_json(t, b, now, out);
  }
  out << "]}\n";
}

// "3/0": good and failed results in a row; "-" for a backend without checks.
std::string checks_text(const shm::BackendEntry& e) {
  if (e.fall == 0) {
    return "-";
  }
  return std::to_string(e.consecutive_ok.load()) + "/" + std::to_string(e.consecutive_failures.load());
}

void print_text(const shm::BackendTable& t, int64_t now, std::ostream& out) {
  out << "workers:\n";
  for (uint32_t s = 0; s < t.slot_count(); ++s) {
    out << "  slot " << s << "  " << role_name(t.slot(s).role.load()) << "  pid " << t.slot(s).pid.load()
        << "  connections " << t.slot(s).connections.load() << "  respawns " << t.slot(s).respawns.load() << "\n";
  }
  out << "backends:\n";
  out << "  " << std::left << std::setw(16) << "POOL" << std::setw(24) << "ADDRESS" << std::setw(10) << "STATE"
      << std::setw(10) << "SESSIONS" << std::setw(10) << "RTT MS" << std::setw(10) << "OK/FAIL"
      << "PER WORKER\n";
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    const shm::BackendEntry& e = t.backend(b);
    out << "  " << std::setw(16) << e.pool << std::setw(24) << e.address << std::setw(10) << state_name(t, b, now)
        << std::setw(10) << t.sessions(b) << std::setw(10) << rtt_ms(e.rtt_us.load(), "-") << std::setw(10)
        << checks_text(e);
    for (uint32_t s = 0; s < t.slot_count(); ++s) {
      out << (s ? " " : "") << t.sessions_in_slot(s, b);
    }
    out << "\n";
    // Free text of any length: on its own line rather than in a column.
    std::string error = t.last_error(b);
    if (!error.empty()) {
      out << "    last error: " << error << "\n";
    }
  }
}

const char* upstream_name(uint32_t s) {
  switch (static_cast<shm::UpstreamState>(s)) {
    case shm::UpstreamState::idle: return "idle";
    case shm::UpstreamState::connecting: return "connecting";
    case shm::UpstreamState::up: return "up";
    case shm::UpstreamState::backoff: return "backoff";
  }
  return "unknown";
}

bool channel_active(const shm::ChannelEntry& e) {
  return e.state.load() == static_cast<uint32_t>(shm::ChannelState::active);
}

// Channels in use: fixed ones always, per_path ones while claimed.
void print_channels_json(const shm::StreamsHeader& h, uint32_t slots, std::ostream& out) {
  const shm::ChannelTable t(const_cast<shm::StreamsHeader&>(h));
  out << ",\"channels\":[";
  bool first = true;
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (!channel_active(e)) {
      continue;
    }
    out << (first ? "" : ",") << "{\"stream\":" << json_string(e.stream) << ",\"path\":" << json_string(e.path)
        << ",\"upstream\":\"" << upstream_name(e.upstream.load()) << "\",\"subscribers\":" << t.subscribers(ch)
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

void print_channels_text(const shm::StreamsHeader& h, std::ostream& out) {
  const shm::ChannelTable t(const_cast<shm::StreamsHeader&>(h));
  out << "streams:\n";
  out << "  " << std::left << std::setw(16) << "STREAM" << std::setw(24) << "CHANNEL" << std::setw(12) << "UPSTREAM"
      << std::setw(13) << "SUBSCRIBERS" << std::setw(12) << "MESSAGES" << "CONNECTS\n";
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (channel_active(e)) {
      out << "  " << std::setw(16) << e.stream << std::setw(24) << (e.path[0] ? e.path : "-") << std::setw(12)
          << upstream_name(e.upstream.load()) << std::setw(13) << t.subscribers(ch) << std::setw(12)
          << e.messages_in.load() << e.connects.load() << "\n";
    }
  }
}

}  // namespace

void print_status(const shm::Table& table, const shm::StreamsHeader* streams, bool json, std::ostream& out) {
  // A read-only view: BackendTable's readers never write.
  const shm::BackendTable t(const_cast<shm::Table&>(table));
  int64_t now = shm::monotonic_ms();
  if (json) {
    std::ostringstream body;
    print_json(t, now, body);
    std::string text = body.str();
    // The streams go last, inside the one object: "...]}\n" -> "...],channels:[...]}\n".
    text.resize(text.size() - 2);
    out << text;
    if (streams != nullptr) {
      print_channels_json(*streams, t.slot_count(), out);
    }
    out << "}\n";
  } else {
    print_text(t, now, out);
    if (streams != nullptr) {
      print_channels_text(*streams, out);
    }
  }
}

int run_status_command(const std::string& shm_name, bool json, std::ostream& out, std::ostream& err) {
  try {
    shm::Segment seg = shm::Segment::attach_read_only(shm_name);
    std::optional<shm::StreamSegment> streams;
    try {
      streams.emplace(shm::StreamSegment::attach_read_only(shm::StreamSegment::name_for(shm_name)));
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
