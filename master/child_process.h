// fork() for a role process, and the plumbing every child does before its
// role runs: its names, the parent-death signal, the master's signals
// unblocked or ignored, the descriptors it must not hold closed, and the
// switch to the configured user. The launchers (master/launch.h) say what
// each role keeps and runs.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "conf/config.h"

namespace wsgate::master {

// The signals the master waits for with sigtimedwait() (blocked in it,
// unblocked again in each child).
sigset_t master_signals();

struct ChildPlumbing {
  std::string log_label;     // log::set_process_label: "worker 3", "prober"
  std::string process_name;  // prctl(PR_SET_NAME): the kernel keeps 15 characters
  // The master's end of the alive pipe: a child holding it would never see
  // EOF on its own end when the master dies.
  int alive_write_fd = -1;
  std::vector<int> shed_fds;             // sockets this role does not serve
  const conf::Config* run_as = nullptr;  // whose `user`/`group` the child becomes
};

// In the master: the child's pid, or -1 with errno set when fork() failed.
// The child sets itself up per `plumbing`, runs `body` and _exits with its
// result: the master's objects copied into it (the segment, the sockets)
// belong to the master and must not be torn down there.
pid_t fork_child(const ChildPlumbing& plumbing, const std::function<int()>& body);

}  // namespace wsgate::master
