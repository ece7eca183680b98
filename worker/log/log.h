// One log shape everywhere: time, level, process role, then what failed,
// while doing what, for which peer, with errno text.
#pragma once

#include <cstdarg>
#include <string>

namespace wsgate::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// Set once per process (after fork): "master", "worker 0", ...
void set_process_label(std::string label);
void set_min_level(Level level);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define WSGATE_LOG(level, ...) ::wsgate::log::write(::wsgate::log::Level::level, __VA_ARGS__)
#define LOG_DEBUG(...) WSGATE_LOG(debug, __VA_ARGS__)
#define LOG_INFO(...) WSGATE_LOG(info, __VA_ARGS__)
#define LOG_WARN(...) WSGATE_LOG(warn, __VA_ARGS__)
#define LOG_ERROR(...) WSGATE_LOG(error, __VA_ARGS__)

// "111: Connection refused" for a libuv error code (negative errno).
std::string uv_error_text(int uv_status);

// The error log (conf `log.error`): these lines go to `path`, through spdlog,
// instead of stderr. Opened by the master before it forks, so every child
// inherits it; each line is written at once. False, with *why, when the file
// cannot be opened.
bool open_error_log(const std::string& path, std::string* why);

// SIGUSR1: every log file this process writes (error log, access log) is
// flushed and opened again by name, so after logrotate renamed it the next
// lines go to a new file. Failures are logged; the old file stays in use.
// The master calls it for its own files; workers from their loop.
void reopen();

// Writes the access log's buffered lines (every second from a worker's loop,
// and before it exits).
void flush();

}  // namespace wsgate::log
