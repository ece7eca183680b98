// Counters for /metrics, one row per slot in the shared table. Only the
// slot's process writes its row (as for SessionRow), so an increment is a
// relaxed load and store on a cache line no other process writes: no lock,
// no bus-locked instruction on the relay path. Unlike the session counts,
// the master does NOT zero a row when its process dies: these are totals
// since the segment was created, and a respawned process carries on
// counting where its predecessor stopped (Prometheus' counters never go
// down while the process behind them lives).
//
// The codes are fixed small tables: a code outside them counts as "other",
// so a peer cannot grow the layout (or the scrape) by sending odd codes.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace wsgate::shm {

// HTTP answers to a client's upgrade: 101, and every refusal wsgate gives
// (worker/edge/intake.cpp, worker/proxy/session.cpp, worker/ws/client_handshake.cpp) or passes on from a
// backend (which may answer anything: that lands in "other").
inline constexpr std::array<uint16_t, 16> kHttpStatuses = {101, 400, 401, 403, 404, 405, 408, 413,
                                                           414, 426, 429, 431, 500, 502, 503, 504};
inline constexpr size_t kHttpStatusSlots = kHttpStatuses.size() + 1;  // + other

// Close codes that exist (RFC 6455 7.4.1 and the IANA registry up to 1014).
// 1005 stands for a close frame without a code; 1006 and 1015 never appear
// on the wire and have no entry.
inline constexpr std::array<uint16_t, 13> kCloseCodes = {1000, 1001, 1002, 1003, 1005, 1007, 1008,
                                                         1009, 1010, 1011, 1012, 1013, 1014};
inline constexpr size_t kCloseCodeSlots = kCloseCodes.size() + 1;  // + other

// Which way data messages went. Stream deliveries are the frames a worker
// queued to its subscribers (one per subscriber per message).
enum class Flow : uint32_t { client_to_backend = 0, backend_to_client = 1, stream_to_client = 2 };
inline constexpr size_t kFlows = 3;

// The peer a close frame went to or came from.
enum class Peer : uint32_t { client = 0, backend = 1 };
inline constexpr size_t kPeers = 2;

inline constexpr size_t http_status_index(unsigned status) {
  for (size_t i = 0; i < kHttpStatuses.size(); ++i) {
    if (kHttpStatuses[i] == status) {
      return i;
    }
  }
  return kHttpStatuses.size();
}

inline constexpr size_t close_code_index(unsigned code) {
  for (size_t i = 0; i < kCloseCodes.size(); ++i) {
    if (kCloseCodes[i] == code) {
      return i;
    }
  }
  return kCloseCodes.size();
}

// TLS handshakes on client listeners by outcome (worker/net/tls_stream.cpp
// sorts OpenSSL's errors into these).
enum class TlsOutcome : uint32_t {
  ok = 0,  // a full handshake
  resumed,
  plain_http,        // HTTP in clear text on a TLS port
  bad_hello,         // not a TLS ClientHello, or a broken one
  protocol_version,  // SSLv3, TLS 1.0/1.1, or a version the listener does not offer
  no_shared_cipher,
  unknown_sni,  // strict_sni and a name no certificate has
  timeout,      // not established within handshake_timeout
  client_cert,  // verify_client refused the client's certificate (or its absence)
  other,
};
inline constexpr size_t kTlsOutcomes = 10;
inline constexpr std::array<const char*, kTlsOutcomes> kTlsOutcomeNames = {
    "ok",       "resumed", "plain_http", "bad_hello",   "protocol_version", "no_shared_cipher", "unknown_sni",
    "timeout", "client_cert", "other"};
// Negotiated versions of established handshakes.
inline constexpr size_t kTlsVersions = 2;  // TLSv1.2, TLSv1.3

inline constexpr size_t kMaxBackendsInMetrics = 512;  // == kMaxBackends (checked in layout.h)

// Aligned to a cache line so two slots' rows never share one. The relay
// counters come first: they are the only ones written per message.
struct alignas(64) MetricsRow {
  std::atomic<uint64_t> messages[kFlows];
  std::atomic<uint64_t> bytes[kFlows];  // payload bytes (stream deliveries: whole frames)
  std::atomic<uint64_t> handshakes[kHttpStatusSlots];
  std::atomic<uint64_t> close_sent[kPeers][kCloseCodeSlots];
  std::atomic<uint64_t> close_received[kPeers][kCloseCodeSlots];
  std::atomic<uint64_t> sessions_closed;  // relaying sessions and subscribers that ended
  std::atomic<uint64_t> tls_handshakes[kTlsOutcomes];
  std::atomic<uint64_t> tls_versions[kTlsVersions];
  // Sessions this slot upgraded on each backend (its 101 was relayed).
  std::atomic<uint64_t> backend_upgrades[kMaxBackendsInMetrics];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(MetricsRow) % 64 == 0);

// The single writer's increment: a relaxed load and store, which compile to
// plain moves. Correct only because nobody else writes the row.
inline void bump(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

}  // namespace wsgate::shm
