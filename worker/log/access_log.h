// The access log: one line per client session at its end (conf `log.access`),
// as text or JSON, through spdlog into a file every worker appends to. Lines
// are buffered (up to kAccessBuffer bytes, and at most a second: the worker's
// loop calls log::flush()) so a busy worker pays one write() per buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace wsgate::log {

inline constexpr size_t kAccessBuffer = 32 * 1024;

// Who ended a session first: a peer's close frame or its TCP close, or
// wsgate itself (an error answer, a protocol error, a timeout, a stop).
enum class Closer : uint8_t { none, client, backend, wsgate };

// What one session did. Close codes are 0 when no close frame went that
// way; 1005 is a close frame without a code.
struct AccessRecord {
  std::string_view client;                     // "ip:port"
  std::string_view path;                       // the request path, without the query (it may hold a key)
  int status = 0;                              // 101, or the refusal the client got
  std::string_view pool;                       // pool routes
  std::string_view backend;                    // "host:port" the session was relayed to; empty if none
  std::string_view stream;                     // stream routes
  uint64_t duration_ms = 0;                    // from accept to the end
  uint64_t up_messages = 0, up_bytes = 0;      // client -> backend (payload bytes)
  uint64_t down_messages = 0, down_bytes = 0;  // backend or stream -> client
  uint16_t close_from_client = 0, close_to_client = 0;
  uint16_t close_from_backend = 0, close_to_backend = 0;
  Closer closed_by = Closer::none;
  std::string_view tls_version;  // empty for a plain ws client
  std::string_view tls_cipher;
  bool tls_resumed = false;
};

const char* closer_name(Closer c);

// The line without its time, which spdlog's pattern puts first:
//   127.0.0.1:50312 "/chat" 101 pool=chat backend=127.0.0.1:9001 stream=- duration_ms=1530
//   up_msgs=3 up_bytes=15 down_msgs=3 down_bytes=15 close_from_client=1000 close_to_client=1000
//   close_from_backend=1000 close_to_backend=1000 closed_by=client
// (one line; "-" for what does not apply).
std::string access_text(const AccessRecord& r);
// The JSON object's members after "time" (no braces): "client":"...",...
std::string access_json(const AccessRecord& r);

// Opens the file (in each worker, after fork). False, with *why, when it
// cannot be opened.
bool open_access_log(const std::string& path, conf::LogFormat format, std::string* why);
// The same for the config's `log.access` (nothing when it is empty), with
// the failure logged: what a worker calls at its start.
bool open_configured_access_log(const conf::Logs& logs);
bool access_log_enabled();
void write_access(const AccessRecord& r);

// For log::reopen() and log::flush(); true when there is no access log.
bool reopen_access_log(std::string* why);
void flush_access_log();

}  // namespace wsgate::log
