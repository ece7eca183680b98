#include "worker/log/log.h"

#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "worker/log/access_log.h"
#include "worker/log/escape.h"
#include "worker/log/line_file_sink.h"

namespace wsgate::log {

namespace {
std::string g_label = "wsgate";
Level g_min = Level::info;
// Set when `log.error` names a file; stderr otherwise.
std::shared_ptr<LineFileSink> g_error_sink;
std::shared_ptr<spdlog::logger> g_error_log;
const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "?";
}
}  // namespace

void set_process_label(std::string label) { g_label = std::move(label); }
void set_min_level(Level level) { g_min = level; }

void write(Level level, const char* fmt, ...) {
  if (level < g_min) {
    return;
  }
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char line[2048];
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%d]: ", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, tv.tv_usec / 1000,
                        level_name(level), g_label.c_str(), static_cast<int>(getpid()));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  const size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : std::min<size_t>(m, sizeof line - n - 2));
  // What a peer sent (a path, a backend's answer) may be in the message:
  // one line of valid UTF-8 whatever it held (escape.h).
  std::string text(line, static_cast<size_t>(n));
  worker::append_escaped(text, std::string_view(line + n, len - static_cast<size_t>(n)), worker::Quoting::log);
  if (g_error_log) {
    // The sink ends the line and writes it whole, at once.
    g_error_log->log(spdlog::level::info, spdlog::string_view_t(text.data(), text.size()));
    return;
  }
  text += '\n';
  // One write() per line keeps lines from different processes whole.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

bool open_error_log(const std::string& path, std::string* why) {
  std::shared_ptr<LineFileSink> sink = LineFileSink::open(path, 0, why);
  if (!sink) {
    return false;
  }
  // The line is already formatted (time, level, process): no spdlog prefix.
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%v"));
  g_error_log = std::make_shared<spdlog::logger>("error", sink);
  g_error_log->set_level(spdlog::level::trace);
  g_error_sink = std::move(sink);
  return true;
}

void reopen() {
  std::string why;
  if (g_error_sink && !g_error_sink->reopen(&why)) {
    LOG_ERROR("SIGUSR1: cannot reopen the error log: %s; still writing to the old file", why.c_str());
  }
  if (!reopen_access_log(&why)) {
    LOG_ERROR("SIGUSR1: cannot reopen the access log: %s; still writing to the old file", why.c_str());
  }
}

void flush() { flush_access_log(); }

std::string uv_error_text(int uv_status) { return std::to_string(-uv_status) + ": " + uv_strerror(uv_status); }

}  // namespace wsgate::log
