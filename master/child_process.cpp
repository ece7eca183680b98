#include "master/child_process.h"

#include <sys/prctl.h>
#include <unistd.h>

#include "master/privileges.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"

namespace wsgate::master {

sigset_t master_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1}) {
    sigaddset(&set, s);
  }
  return set;
}

pid_t fork_child(const ChildPlumbing& plumbing, const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid != 0) {
    return pid;
  }
  log::set_process_label(plumbing.log_label);
  prctl(PR_SET_NAME, plumbing.process_name.c_str());
  // Belt and braces with the alive pipe: a worker never outlives its master.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) {
    _exit(worker::kExitOk);  // the master died between fork() and prctl()
  }
  sigset_t set = master_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Signals meant for the master alone (a terminal's, or `kill` on the
  // process group) must not kill a child that does not watch them.
  signal(SIGHUP, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  close(plumbing.alive_write_fd);
  for (int fd : plumbing.shed_fds) {
    close(fd);
  }
  // Config `user`/`group`: before any byte from a peer.
  drop_worker_privileges(*plumbing.run_as);
  _exit(body());
}

}  // namespace wsgate::master
