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

}  // namespace wsgate::log
