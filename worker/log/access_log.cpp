#include "worker/log/access_log.h"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

#include <cstdio>
#include <memory>

#include "worker/log/escape.h"
#include "worker/log/line_file_sink.h"
#include "worker/log/log.h"

namespace wsgate::log {

namespace {

std::shared_ptr<LineFileSink> g_sink;
std::shared_ptr<spdlog::logger> g_logger;
conf::LogFormat g_format = conf::LogFormat::text;

// Paths are printable ASCII after the handshake's checks, but the log must
// stay one line per session whatever a request held: quotes, backslashes and
// other bytes are escaped as in JSON.
void append_escaped(std::string& out, std::string_view s) { worker::append_json_escaped(out, s); }

void text_field(std::string& out, const char* key, std::string_view value) {
  out.append(" ").append(key).append("=");
  if (value.empty()) {
    out += '-';
  } else {
    append_escaped(out, value);
  }
}

void text_code(std::string& out, const char* key, uint16_t code) {
  out.append(" ").append(key).append("=").append(code != 0 ? std::to_string(code) : "-");
}

void json_string_field(std::string& out, const char* key, std::string_view value) {
  out.append(",\"").append(key).append("\":");
  if (value.empty()) {
    out += "null";
  } else {
    out += '"';
    append_escaped(out, value);
    out += '"';
  }
}

void json_number(std::string& out, const char* key, uint64_t value) {
  out.append(",\"").append(key).append("\":").append(std::to_string(value));
}

void json_code(std::string& out, const char* key, uint16_t code) {
  out.append(",\"").append(key).append("\":").append(code != 0 ? std::to_string(code) : "null");
}

}  // namespace

const char* closer_name(Closer c) {
  switch (c) {
    case Closer::client: return "client";
    case Closer::backend: return "backend";
    case Closer::wsgate: return "wsgate";
    case Closer::none: break;
  }
  return "-";
}

std::string access_text(const AccessRecord& r) {
  std::string out;
  out.reserve(320);
  append_escaped(out, r.client.empty() ? std::string_view("-") : r.client);
  out += " \"";
  append_escaped(out, r.path);
  out.append("\" ").append(std::to_string(r.status));
  text_field(out, "pool", r.pool);
  text_field(out, "backend", r.backend);
  text_field(out, "stream", r.stream);
  out.append(" duration_ms=").append(std::to_string(r.duration_ms));
  out.append(" up_msgs=").append(std::to_string(r.up_messages));
  out.append(" up_bytes=").append(std::to_string(r.up_bytes));
  out.append(" down_msgs=").append(std::to_string(r.down_messages));
  out.append(" down_bytes=").append(std::to_string(r.down_bytes));
  text_code(out, "close_from_client", r.close_from_client);
  text_code(out, "close_to_client", r.close_to_client);
  text_code(out, "close_from_backend", r.close_from_backend);
  text_code(out, "close_to_backend", r.close_to_backend);
  out.append(" closed_by=").append(closer_name(r.closed_by));
  if (r.tls_version.empty()) {
    out.append(" tls=- cipher=- resumed=-");
  } else {
    out.append(" tls=").append(r.tls_version).append(" cipher=").append(r.tls_cipher);
    out.append(r.tls_resumed ? " resumed=1" : " resumed=0");
  }
  return out;
}

std::string access_json(const AccessRecord& r) {
  std::string out;
  out.reserve(400);
  out += "\"client\":\"";
  append_escaped(out, r.client);
  out += '"';
  json_string_field(out, "path", r.path);
  json_number(out, "status", static_cast<uint64_t>(r.status));
  json_string_field(out, "pool", r.pool);
  json_string_field(out, "backend", r.backend);
  json_string_field(out, "stream", r.stream);
  json_number(out, "duration_ms", r.duration_ms);
  json_number(out, "up_msgs", r.up_messages);
  json_number(out, "up_bytes", r.up_bytes);
  json_number(out, "down_msgs", r.down_messages);
  json_number(out, "down_bytes", r.down_bytes);
  json_code(out, "close_from_client", r.close_from_client);
  json_code(out, "close_to_client", r.close_to_client);
  json_code(out, "close_from_backend", r.close_from_backend);
  json_code(out, "close_to_backend", r.close_to_backend);
  out.append(",\"closed_by\":");
  if (r.closed_by == Closer::none) {
    out += "null";
  } else {
    out.append("\"").append(closer_name(r.closed_by)).append("\"");
  }
  if (!r.tls_version.empty()) {
    json_string_field(out, "tls", r.tls_version);
    json_string_field(out, "cipher", r.tls_cipher);
    out.append(r.tls_resumed ? ",\"resumed\":true" : ",\"resumed\":false");
  }
  return out;
}

bool open_access_log(const std::string& path, conf::LogFormat format, std::string* why) {
  std::shared_ptr<LineFileSink> sink = LineFileSink::open(path, kAccessBuffer, why);
  if (!sink) {
    return false;
  }
  // The time goes first, in UTC with milliseconds, as in the error log.
  const char* pattern =
      format == conf::LogFormat::json ? "{\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}" : "%Y-%m-%dT%H:%M:%S.%eZ %v";
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  g_logger = std::make_shared<spdlog::logger>("access", sink);
  g_logger->set_level(spdlog::level::info);
  g_logger->flush_on(spdlog::level::off);  // flushed by the buffer's bound and the loop's timer
  g_sink = std::move(sink);
  g_format = format;
  return true;
}

bool open_configured_access_log(const conf::Logs& logs) {
  if (logs.access.empty()) {
    return true;
  }
  std::string why;
  if (!open_access_log(logs.access, logs.format, &why)) {
    LOG_ERROR("cannot open the access log: %s", why.c_str());
    return false;
  }
  return true;
}

bool access_log_enabled() { return g_logger != nullptr; }

void write_access(const AccessRecord& r) {
  if (!g_logger) {
    return;
  }
  const std::string line = g_format == conf::LogFormat::json ? access_json(r) : access_text(r);
  g_logger->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
}

bool reopen_access_log(std::string* why) { return !g_sink || g_sink->reopen(why); }

void flush_access_log() {
  if (g_logger) {
    g_logger->flush();
  }
}

}  // namespace wsgate::log
