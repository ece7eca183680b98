// What one client session did, kept in the session for its access-log line
// and published to the slot's metrics row (shm/metrics_layout.h) once per
// read, never per byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "shm/metrics_layout.h"
#include "worker/log/access_log.h"

namespace wsgate::worker {

struct FlowCount {
  uint64_t messages = 0;
  uint64_t bytes = 0;  // payload bytes
};

struct SessionStats {
  uint64_t accepted_ms = 0;  // uv_now() at accept
  FlowCount up;              // client -> backend
  FlowCount down;            // backend (or stream) -> client
  // The first close frame each way; 0 = none, 1005 = one without a code.
  uint16_t close_from_client = 0, close_to_client = 0;
  uint16_t close_from_backend = 0, close_to_backend = 0;
  int status = 0;                 // 101, or the refusal sent; 0 while in the handshake
  uint32_t backend = UINT32_MAX;  // pool-relative index of the backend relayed to last
  std::string path;               // the request path, kept only for the access log
  std::string client;             // "ip:port" at accept, kept only for the access log
  log::Closer closed_by = log::Closer::none;
  // TLS clients: OpenSSL's static names of the version and cipher.
  const char* tls_version = nullptr;
  const char* tls_cipher = nullptr;
  bool tls_resumed = false;
  bool ended = false;  // logged (or handed over to a subscriber, which logs itself)

  // The access-log fields every kind of session has; the caller adds what
  // it relayed from or to (pool and backend, or stream). Views into *this.
  log::AccessRecord access_record(uint64_t now_ms) const {
    log::AccessRecord r;
    r.client = client;
    r.path = path;
    r.status = status;
    r.duration_ms = now_ms - accepted_ms;
    r.tls_version = tls_version != nullptr ? tls_version : "";
    r.tls_cipher = tls_cipher != nullptr ? tls_cipher : "";
    r.tls_resumed = tls_resumed;
    r.up_messages = up.messages;
    r.up_bytes = up.bytes;
    r.down_messages = down.messages;
    r.down_bytes = down.bytes;
    r.close_from_client = close_from_client;
    r.close_to_client = close_to_client;
    r.close_from_backend = close_from_backend;
    r.close_to_backend = close_to_backend;
    r.closed_by = closed_by;
    return r;
  }

  // The first to end the session wins; later closes are answers to it.
  void note_closer(log::Closer c) {
    if (closed_by == log::Closer::none) {
      closed_by = c;
    }
  }
};

// The code a close frame's payload carries: 1005 when it has none.
inline uint16_t close_code_of(const uint8_t* payload, size_t n) {
  return n >= 2 ? static_cast<uint16_t>(payload[0] << 8 | payload[1]) : 1005;
}

// The handshake's outcome: 101, or the refusal sent.
inline void count_handshake(shm::MetricsRow& row, SessionStats& stats, int status) {
  stats.status = status;
  shm::bump(row.handshakes[shm::http_status_index(static_cast<unsigned>(status))]);
}

// Counts one close frame in the slot's row and in the session's first codes.
inline void count_close(shm::MetricsRow& row, SessionStats& stats, shm::Peer peer, bool sent, uint16_t code) {
  const size_t p = static_cast<size_t>(peer);
  shm::bump(sent ? row.close_sent[p][shm::close_code_index(code)] : row.close_received[p][shm::close_code_index(code)]);
  uint16_t& first = peer == shm::Peer::client ? (sent ? stats.close_to_client : stats.close_from_client)
                                              : (sent ? stats.close_to_backend : stats.close_from_backend);
  if (first == 0) {
    first = code;
  }
}

}  // namespace wsgate::worker
