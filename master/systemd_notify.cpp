#include "master/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "shm/backend_table.h"
#include "worker/log/log.h"

namespace wsgate::master {

namespace {

// STATUS= is one line: a newline would start another (unknown) assignment.
std::string status_line(std::string_view text) {
  std::string line = "STATUS=";
  for (char c : text) {
    line += c == '\n' ? ' ' : c;
  }
  return line;
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
  if (const char* path = getenv("NOTIFY_SOCKET"); path != nullptr) {
    socket_ = path;
  }
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is unset or ours.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ms_ = std::max<int64_t>(1, static_cast<int64_t>(usec / 2000));
  }
  if (enabled()) {
    std::string watchdog;
    if (watchdog_interval_ms_ > 0) {
      watchdog = ", watchdog every " + std::to_string(watchdog_interval_ms_) + " ms";
    }
    LOG_INFO("systemd notifications go to %s%s", socket_.c_str(), watchdog.c_str());
  }
}

void SystemdNotifier::ready(std::string_view status) {
  send("READY=1\n" + status_line(status) + "\nMAINPID=" + std::to_string(getpid()));
}

void SystemdNotifier::reloading(std::string_view status) {
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(shm::monotonic_us()) + "\n" + status_line(status));
}

void SystemdNotifier::stopping(std::string_view status) { send("STOPPING=1\n" + status_line(status)); }

void SystemdNotifier::status(std::string_view status) { send(status_line(status)); }

void SystemdNotifier::watchdog() { send("WATCHDOG=1"); }

void SystemdNotifier::send(const std::string& message) {
  if (!enabled()) {
    return;
  }
  int r = sd_notify(0, message.c_str());
  if (r < 0 && !failing_) {
    std::string first_line = message.substr(0, message.find('\n'));
    LOG_WARN("sd_notify(\"%s\") to %s failed (%d: %s); going on without systemd until it works again",
             first_line.c_str(), socket_.c_str(), -r, strerror(-r));
  } else if (r > 0 && failing_) {
    LOG_INFO("sending to systemd at %s works again", socket_.c_str());
  }
  failing_ = r < 0;
}

}  // namespace wsgate::master
