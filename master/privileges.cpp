#include "master/privileges.h"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conf/loader.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"

namespace wsgate::master {

namespace {

std::string failed(const std::string& call, int error) {
  return call + " failed (" + std::to_string(error) + ": " + strerror(error) + ")";
}

std::string describe(const conf::RunAs& run_as) {
  std::string text = "user \"" + run_as.user + "\" (uid " + std::to_string(run_as.uid) + ")";
  if (!run_as.group.empty()) {
    text += ", group \"" + run_as.group + "\" (gid " + std::to_string(run_as.gid) + ")";
  }
  return text;
}

// Without `group` the user alone is asked for: a process already running as
// that user (systemd's User=) is fine whatever its group.
bool already_run_as(const conf::RunAs& run_as) {
  return geteuid() == run_as.uid && getuid() == run_as.uid &&
         (run_as.group.empty() || (getegid() == run_as.gid && getgid() == run_as.gid));
}

// Every one of the real, effective and saved ids, so that a saved root id
// left behind (a seteuid()-style drop) cannot pass for a full switch.
std::string check_switched(const conf::RunAs& run_as) {
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) {
    return failed("getresuid()/getresgid()", errno);
  }
  if (ruid != run_as.uid || euid != run_as.uid || suid != run_as.uid || rgid != run_as.gid || egid != run_as.gid ||
      sgid != run_as.gid) {
    return "the ids after the switch are uid " + std::to_string(ruid) + "/" + std::to_string(euid) + "/" +
           std::to_string(suid) + ", gid " + std::to_string(rgid) + "/" + std::to_string(egid) + "/" +
           std::to_string(sgid);
  }
  if (run_as.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    return "root could be regained with setuid(0) after the switch";
  }
  return "";
}

}  // namespace

void check_can_run_as(const conf::Config& config) {
  if (!config.run_as || geteuid() == 0 || already_run_as(*config.run_as)) {
    return;
  }
  throw conf::ConfigError(config.file, config.run_as->line, "user",
                          "wsgate runs as uid " + std::to_string(geteuid()) + " (gid " + std::to_string(getegid()) +
                              "), not as root, so it cannot switch its workers to " + describe(*config.run_as) +
                              "; start it as root or as that user, or remove the key");
}

std::string drop_privileges(const conf::RunAs& run_as) {
  if (geteuid() != 0) {
    return already_run_as(run_as) ? "" : "not root, and not " + describe(run_as) + " already";
  }
  int pdeath_signal = 0;
  if (prctl(PR_GET_PDEATHSIG, &pdeath_signal) != 0) {
    return failed("prctl(PR_GET_PDEATHSIG)", errno);
  }
  if (setgroups(run_as.groups.size(), run_as.groups.data()) != 0) {
    return failed("setgroups() with " + std::to_string(run_as.groups.size()) + " groups", errno);
  }
  if (setgid(run_as.gid) != 0) {
    return failed("setgid(" + std::to_string(run_as.gid) + ")", errno);
  }
  if (setuid(run_as.uid) != 0) {
    return failed("setuid(" + std::to_string(run_as.uid) + ")", errno);
  }
  if (std::string why = check_switched(run_as); !why.empty()) {
    return why;
  }
  // The kernel clears the parent-death signal on any change of credentials:
  // without this a worker would outlive a master killed by SIGKILL until it
  // noticed the closed pipe.
  if (prctl(PR_SET_PDEATHSIG, pdeath_signal) != 0) {
    return failed("prctl(PR_SET_PDEATHSIG)", errno);
  }
  // Not dumpable, whatever fs.suid_dumpable says: the worker holds sockets
  // the master bound as root (maybe on port 80) and writable shared memory,
  // and a dumpable process may be ptraced by any other process of its user —
  // `nobody` is shared by many daemons. The cost is no core files.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) {
    return failed("prctl(PR_SET_DUMPABLE)", errno);
  }
  return "";
}

void drop_worker_privileges(const conf::Config& config) {
  if (!config.run_as) {
    return;
  }
  const pid_t master = getppid();
  const std::string why = drop_privileges(*config.run_as);
  if (!why.empty()) {
    LOG_ERROR("cannot switch to %s: %s; exiting, not to be respawned", describe(*config.run_as).c_str(), why.c_str());
    _exit(worker::kExitFatal);
  }
  if (getppid() != master) {
    _exit(worker::kExitOk);  // the master died while the parent-death signal was disarmed
  }
}

shm::SegmentMode segment_mode_for(const conf::Config& config) {
  shm::SegmentMode mode;
  if (config.run_as && geteuid() == 0 && config.run_as->uid != 0) {
    mode.reader_group = static_cast<int>(config.run_as->gid);
  }
  return mode;
}

}  // namespace wsgate::master
