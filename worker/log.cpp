#include "worker/log.h"

#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <ctime>

namespace wsgate::log {

namespace {
std::string g_label = "wsgate";
Level g_min = Level::info;
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
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : std::min<size_t>(m, sizeof line - n - 2));
  line[len++] = '\n';
  // One write() per line keeps lines from different processes whole.
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

std::string uv_error_text(int uv_status) {
  return std::to_string(-uv_status) + ": " + uv_strerror(uv_status);
}

}  // namespace wsgate::log
