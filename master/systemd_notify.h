// The service manager's side channel (sd_notify(3), for `Type=notify`
// units): READY=1, RELOADING=1, STOPPING=1, STATUS= and WATCHDOG=1 datagrams
// to the socket systemd names in NOTIFY_SOCKET. libsystemd's sd_notify()
// speaks the protocol (path or abstract socket, credentials); this class only
// remembers, once, whether there is anyone to talk to and how often the
// watchdog wants petting. Without NOTIFY_SOCKET every call does nothing.
//
// Only the master notifies (the unit says NotifyAccess=main); what each
// message means for wsgate is decided in master/supervisor.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wsgate::master {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return !socket_.empty(); }
  // Half of WATCHDOG_USEC in ms (how often to pet, as sd_watchdog_enabled(3)
  // advises), or 0 when systemd set no watchdog for this process.
  int64_t watchdog_interval_ms() const { return watchdog_interval_ms_; }

  // READY=1 with STATUS= and MAINPID=: the service is up (again, after a reload).
  void ready(std::string_view status);
  // RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now) and STATUS=.
  void reloading(std::string_view status);
  // STOPPING=1 with STATUS=.
  void stopping(std::string_view status);
  void status(std::string_view status);
  void watchdog();

 private:
  // One datagram of "KEY=VALUE" lines. A failure is logged when it starts and
  // when it ends, not on every watchdog tick in between.
  void send(const std::string& message);

  std::string socket_;  // NOTIFY_SOCKET as found at start; empty: not under systemd
  int64_t watchdog_interval_ms_ = 0;
  bool failing_ = false;
};

}  // namespace wsgate::master
