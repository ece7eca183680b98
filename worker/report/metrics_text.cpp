#include "worker/report/metrics_text.h"

#include <ctime>
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "shm/backend_table.h"
#include "shm/channel_table.h"
#include "shm/metrics_layout.h"
#include "worker/report/status_names.h"

namespace wsgate::worker {

namespace {

using Label = std::pair<std::string_view, std::string_view>;

// Appends families and samples; every name gets the `wsgate_` prefix here,
// so no call site can forget it.
class Exposition {
 public:
  explicit Exposition(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP wsgate_").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE wsgate_").append(name).append(" ").append(type).append("\n");
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value) {
    head(name, labels);
    out_.append(std::to_string(value)).append("\n");
  }
  void sample_signed(std::string_view name, std::initializer_list<Label> labels, int64_t value) {
    head(name, labels);
    out_.append(std::to_string(value)).append("\n");
  }
  void sample_real(std::string_view name, std::initializer_list<Label> labels, double value) {
    head(name, labels);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6f", value);
    out_.append(buf).append("\n");
  }

 private:
  void head(std::string_view name, std::initializer_list<Label> labels) {
    out_.append("wsgate_").append(name);
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, value] : labels) {
        out_.append(first ? "" : ",").append(key).append("=\"").append(label_value(value)).append("\"");
        first = false;
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  std::string& out_;
};

const char* flow_name(size_t f) {
  switch (static_cast<shm::Flow>(f)) {
    case shm::Flow::client_to_backend: return "client_to_backend";
    case shm::Flow::backend_to_client: return "backend_to_client";
    case shm::Flow::stream_to_client: return "stream_to_client";
  }
  return "unknown";
}

const char* peer_name(size_t p) { return p == static_cast<size_t>(shm::Peer::client) ? "client" : "backend"; }

std::string http_status_label(size_t i) {
  return i < shm::kHttpStatuses.size() ? std::to_string(shm::kHttpStatuses[i]) : "other";
}

std::string close_code_label(size_t i) {
  return i < shm::kCloseCodes.size() ? std::to_string(shm::kCloseCodes[i]) : "other";
}

// The sum of one counter over every slot the master set up. Rows of slots
// beyond slot_count are never written, so stopping there loses nothing.
template <class Field>
uint64_t over_slots(const shm::Table& table, uint32_t slots, Field field) {
  uint64_t sum = 0;
  for (uint32_t s = 0; s < slots; ++s) {
    sum += field(table.metrics[s]).load(std::memory_order_relaxed);
  }
  return sum;
}

void render_process(const shm::Table& table, Exposition& x) {
  x.family("start_time_seconds", "gauge", "When the master started, in seconds since the Unix epoch.");
  x.sample("start_time_seconds", {}, static_cast<uint64_t>(table.header.started_ms.load() / 1000));
}

void render_workers(const shm::BackendTable& t, Exposition& x) {
  const uint32_t slots = t.slot_count();
  x.family("worker_up", "gauge", "1 while a process runs in the slot, 0 while it is empty (being respawned).");
  for (uint32_t s = 0; s < slots; ++s) {
    const shm::WorkerSlot& w = t.slot(s);
    const std::string slot = std::to_string(s), gen = std::to_string(w.generation.load());
    x.sample("worker_up", {{"worker", slot}, {"role", slot_role_name(w.role.load())}, {"generation", gen}},
             w.pid.load() != 0 ? 1 : 0);
  }
  x.family("worker_connections", "gauge", "Client connections a worker holds (handshaking, relaying, subscribed).");
  for (uint32_t s = 0; s < slots; ++s) {
    const shm::WorkerSlot& w = t.slot(s);
    if (static_cast<shm::SlotRole>(w.role.load()) == shm::SlotRole::proxy) {
      x.sample("worker_connections",
               {{"worker", std::to_string(s)}, {"generation", std::to_string(w.generation.load())}},
               w.connections.load());
    }
  }
  x.family("worker_sessions", "gauge", "Backend sessions a worker counts (dialing or relaying).");
  for (uint32_t s = 0; s < slots; ++s) {
    const shm::WorkerSlot& w = t.slot(s);
    if (static_cast<shm::SlotRole>(w.role.load()) != shm::SlotRole::proxy) {
      continue;
    }
    int64_t sessions = 0;
    for (uint32_t b = 0; b < t.backend_count(); ++b) {
      sessions += t.sessions_in_slot(s, b);
    }
    x.sample_signed("worker_sessions",
                    {{"worker", std::to_string(s)}, {"generation", std::to_string(w.generation.load())}}, sessions);
  }
  x.family("worker_respawns_total", "counter", "Times the master refilled a slot whose process died.");
  for (uint32_t s = 0; s < slots; ++s) {
    const shm::WorkerSlot& w = t.slot(s);
    x.sample("worker_respawns_total", {{"worker", std::to_string(s)}, {"role", slot_role_name(w.role.load())}},
             w.respawns.load());
  }
}

void render_backends(const shm::Table& table, const shm::BackendTable& t, int64_t now, Exposition& x) {
  const uint32_t n = t.backend_count(), slots = t.slot_count();
  static constexpr const char* kStates[] = {"up", "down", "draining", "removed"};
  x.family("backend_state", "gauge", "1 for the backend's current state (up, down, draining, removed), else 0.");
  for (uint32_t b = 0; b < n; ++b) {
    const std::string_view state = backend_state_name(t, b, now);
    for (const char* s : kStates) {
      x.sample("backend_state", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}, {"state", s}},
               state == s ? 1 : 0);
    }
  }
  x.family("backend_sessions", "gauge", "Live sessions on the backend over all workers (dialing or relaying).");
  for (uint32_t b = 0; b < n; ++b) {
    x.sample_signed("backend_sessions", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
                    t.sessions(b));
  }
  x.family("backend_weight", "gauge", "The backend's configured weight.");
  for (uint32_t b = 0; b < n; ++b) {
    x.sample("backend_weight", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
             t.backend(b).weight.load());
  }
  x.family("backend_health_rtt_seconds", "gauge",
           "The last good health check's time from connect to pong (absent before one).");
  for (uint32_t b = 0; b < n; ++b) {
    const int64_t rtt = t.backend(b).rtt_us.load();
    if (rtt >= 0) {
      x.sample_real("backend_health_rtt_seconds", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
                    static_cast<double>(rtt) / 1e6);
    }
  }
  x.family("backend_upgrades_total", "counter", "Sessions upgraded on the backend (its 101 relayed to a client).");
  for (uint32_t b = 0; b < n; ++b) {
    x.sample("backend_upgrades_total", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
             over_slots(
                 table, slots, [b](const shm::MetricsRow& r) -> const auto& { return r.backend_upgrades[b]; }));
  }
  x.family("backend_failures_total", "counter",
           "Failed dials, failed upgrades and dropped connections of the backend (passive health signals).");
  for (uint32_t b = 0; b < n; ++b) {
    x.sample("backend_failures_total", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
             t.backend(b).failures_total.load());
  }
  x.family("backend_state_changes_total", "counter", "Transitions of the backend's health between up and down.");
  for (uint32_t b = 0; b < n; ++b) {
    x.sample("backend_state_changes_total", {{"pool", t.backend(b).pool}, {"backend", t.backend(b).address}},
             t.backend(b).state_changes.load());
  }
}

void render_traffic(const shm::Table& table, uint32_t slots, Exposition& x) {
  x.family("handshakes_total", "counter",
           "Client upgrade requests by the HTTP status they were answered with (101 = upgraded).");
  for (size_t i = 0; i < shm::kHttpStatusSlots; ++i) {
    x.sample("handshakes_total", {{"code", http_status_label(i)}},
             over_slots(
                 table, slots, [i](const shm::MetricsRow& r) -> const auto& { return r.handshakes[i]; }));
  }
  x.family("messages_total", "counter", "Data messages relayed, by direction (stream_to_client: deliveries).");
  for (size_t f = 0; f < shm::kFlows; ++f) {
    x.sample("messages_total", {{"direction", flow_name(f)}},
             over_slots(
                 table, slots, [f](const shm::MetricsRow& r) -> const auto& { return r.messages[f]; }));
  }
  x.family("bytes_total", "counter", "Payload bytes of the data messages relayed, by direction.");
  for (size_t f = 0; f < shm::kFlows; ++f) {
    x.sample("bytes_total", {{"direction", flow_name(f)}},
             over_slots(
                 table, slots, [f](const shm::MetricsRow& r) -> const auto& { return r.bytes[f]; }));
  }
  x.family("close_frames_total", "counter",
           "Close frames wsgate sent to or received from a peer, by close code (1005: no code).");
  for (size_t p = 0; p < shm::kPeers; ++p) {
    for (size_t i = 0; i < shm::kCloseCodeSlots; ++i) {
      const std::string code = close_code_label(i);
      x.sample("close_frames_total", {{"direction", "sent"}, {"peer", peer_name(p)}, {"code", code}},
               over_slots(
                   table, slots, [ p, i ](const shm::MetricsRow& r) -> const auto& { return r.close_sent[p][i]; }));
      x.sample("close_frames_total", {{"direction", "received"}, {"peer", peer_name(p)}, {"code", code}},
               over_slots(
                   table, slots, [ p, i ](const shm::MetricsRow& r) -> const auto& { return r.close_received[p][i]; }));
    }
  }
  x.family("tls_handshakes_total", "counter",
           "TLS handshakes on client listeners by result: ok (full), resumed, or why it failed.");
  for (size_t i = 0; i < shm::kTlsOutcomes; ++i) {
    x.sample("tls_handshakes_total", {{"result", shm::kTlsOutcomeNames[i]}},
             over_slots(
                 table, slots, [i](const shm::MetricsRow& r) -> const auto& { return r.tls_handshakes[i]; }));
  }
  x.family("tls_versions_total", "counter", "Established TLS client sessions by negotiated version.");
  static constexpr std::array<const char*, shm::kTlsVersions> kVersions = {"TLSv1.2", "TLSv1.3"};
  for (size_t i = 0; i < shm::kTlsVersions; ++i) {
    x.sample("tls_versions_total", {{"version", kVersions[i]}},
             over_slots(
                 table, slots, [i](const shm::MetricsRow& r) -> const auto& { return r.tls_versions[i]; }));
  }
  const std::vector<shm::CertificateRecord> certs = shm::read_certificates(table.certificates);
  if (!certs.empty()) {
    x.family("tls_certificate_expiry_seconds", "gauge",
             "Seconds until a TLS listener's certificate expires (negative: expired).");
    const int64_t wall = static_cast<int64_t>(time(nullptr));
    for (const shm::CertificateRecord& c : certs) {
      x.sample_signed("tls_certificate_expiry_seconds", {{"listener", c.listener}, {"file", c.file}, {"names", c.names}},
               c.not_after - wall);
    }
  }
  x.family("sessions_closed_total", "counter", "Relaying sessions and stream subscribers that ended.");
  x.sample("sessions_closed_total", {},
           over_slots(
               table, slots, [](const shm::MetricsRow& r) -> const auto& { return r.sessions_closed; }));
}

void render_streams(const shm::StreamsHeader& h, Exposition& x) {
  const shm::ChannelTable t(const_cast<shm::StreamsHeader&>(h));
  x.family("stream_subscribers", "gauge", "Subscribers of a stream channel over all workers.");
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    if (channel_active(h.channels[ch])) {
      x.sample_signed("stream_subscribers", {{"stream", h.channels[ch].stream}, {"channel", h.channels[ch].path}},
                      t.subscribers(ch));
    }
  }
  x.family("stream_upstream_up", "gauge", "1 while the channel's upstream connection is up.");
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (channel_active(e)) {
      x.sample("stream_upstream_up", {{"stream", e.stream}, {"channel", e.path}},
               e.upstream.load() == static_cast<uint32_t>(shm::UpstreamState::up) ? 1 : 0);
    }
  }
  x.family("stream_messages_total", "counter", "Messages the feeder wrote into the channel's ring.");
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (channel_active(e)) {
      x.sample("stream_messages_total", {{"stream", e.stream}, {"channel", e.path}}, e.messages_in.load());
    }
  }
  x.family("stream_upstream_connects_total", "counter", "Upstream connections the feeder made for the channel.");
  for (uint32_t ch = 0; ch < h.channel_count; ++ch) {
    const shm::ChannelEntry& e = h.channels[ch];
    if (channel_active(e)) {
      x.sample("stream_upstream_connects_total", {{"stream", e.stream}, {"channel", e.path}}, e.connects.load());
    }
  }
}

}  // namespace

std::string label_value(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (const char c : raw) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void render_reload_metrics(const shm::Table& table, std::string& out) {
  Exposition x(out);
  const shm::Header& h = table.header;
  x.family("reloads_total", "counter", "Reloads (SIGHUP) by result: ok, or failed (the running config stayed).");
  x.sample("reloads_total", {{"result", "ok"}}, h.reloads_ok.load());
  x.sample("reloads_total", {{"result", "failed"}}, h.reloads_failed.load());
  x.family("generation", "gauge", "The worker generation that accepts new connections.");
  x.sample("generation", {}, h.generation.load());
  x.family("draining_generations", "gauge", "Older generations still draining their sessions.");
  x.sample("draining_generations", {}, h.draining_generations.load());
  // Drain progress: what the draining generations still hold.
  const uint32_t current = h.generation.load(), slots = h.slot_count.load();
  uint64_t draining = 0;
  for (uint32_t s = 0; s < slots && s < shm::kMaxSlots; ++s) {
    const shm::WorkerSlot& w = table.slots[s];
    if (w.pid.load() != 0 && static_cast<shm::SlotRole>(w.role.load()) == shm::SlotRole::proxy &&
        w.generation.load() != current) {
      draining += w.connections.load();
    }
  }
  x.family("draining_connections", "gauge", "Client connections still held by draining generations.");
  x.sample("draining_connections", {}, draining);
}

std::string metrics_text(const shm::Table& table, const shm::StreamsHeader* streams, int64_t now_ms) {
  const shm::BackendTable t(const_cast<shm::Table&>(table));
  std::string out;
  out.reserve(16 * 1024);
  Exposition x(out);
  render_process(table, x);
  render_workers(t, x);
  render_backends(table, t, now_ms, x);
  render_traffic(table, std::min(t.slot_count(), shm::kMaxSlots), x);
  render_reload_metrics(table, out);
  if (streams != nullptr) {
    render_streams(*streams, x);
  }
  return out;
}

}  // namespace wsgate::worker
