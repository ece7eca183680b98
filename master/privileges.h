// Who the workers run as (config `user`/`group`). The master keeps its own
// identity: as root it binds ports below 1024 and creates the shared memory.
// Every child it forks — proxy worker, prober, feeder — drops to the
// configured user right after fork, before it reads a byte from a peer, so
// a bug in the code facing the network runs with that user's rights only.
#pragma once

#include <string>

#include "conf/config.h"
#include "shm/named_mapping.h"

namespace wsgate::master {

// At start, before anything is bound: only root can switch users, so a
// master that is not root can run its workers only as itself. Throws
// conf::ConfigError naming the file, the line of `user` and the key when it
// is neither root nor already the configured user (and group, when given).
void check_can_run_as(const conf::Config& config);

// Switches this process to `run_as`: supplementary groups, then the gid,
// then the uid (the other order would leave root's groups, or lose the right
// to change them), then checks that root cannot be regained. Re-arms the
// parent-death signal the kernel clears on a change of credentials, and
// leaves the process not dumpable. Does nothing when not root and already
// `run_as`. Returns "" on success, else what failed with the errno text.
std::string drop_privileges(const conf::RunAs& run_as);

// The call a freshly forked child makes: drop_privileges() when the config
// has `user`; on failure it logs why and exits with worker::kExitFatal, so
// the master does not respawn the child into the same failure.
void drop_worker_privileges(const conf::Config& config);

// The mode of the shared segments the master creates for `config`: its own
// uid only, plus read for the group of `user` when a root master switches
// its workers to it, so the service user can run `wsgate status`.
shm::SegmentMode segment_mode_for(const conf::Config& config);

}  // namespace wsgate::master
