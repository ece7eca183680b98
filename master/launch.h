// One launcher per role: each forks its role's process (master/child_process.h
// does the plumbing every child shares) and hands it what that role runs on.
// Every launcher returns the child's pid, or -1 with errno set when fork()
// failed; the child never returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "conf/config.h"
#include "master/listeners.h"
#include "shm/config_blob.h"
#include "shm/layout.h"

namespace wsgate::master {

class StreamSet;
struct Generation;

// What the master hands down to every child.
struct ChildContext {
  shm::Table* table = nullptr;
  int alive_read_fd = -1;   // the children's end of the alive pipe: EOF = the master died
  int alive_write_fd = -1;  // the master's end, closed in every child
  const ListenSockets* listeners = nullptr;
  int admin_fd = -1;  // config `admin`'s socket, -1 when none: only the admin role keeps it

  // Every listening socket but `keep`, and the admin socket unless `keep_admin`.
  std::vector<int> shed(const std::vector<int>& keep, bool keep_admin) const;
  // The generation the table says accepts now, which roles other than the
  // proxy report as theirs.
  uint32_t current_generation() const;
};

// The TLS blobs (0600, mapped before any fork): the certificates and keys the
// master read, and the session ticket keys it rotates.
struct TlsBlobs {
  shm::ConfigBlob material;
  shm::ConfigBlob tickets;
};

// A proxy worker of `gen` (its index-th) in `slot`, serving its share of the
// generation's listening sockets and `streams` (may be null). A slot whose
// generation is gone (`gen` null) gets a child that says so and exits fatal,
// running as `active`'s user.
pid_t launch_proxy(const ChildContext& ctx, uint32_t slot, uint32_t index, const Generation* gen, StreamSet* streams,
                   const shm::ConfigBlob& blob, const TlsBlobs& tls, const conf::Config& active);
// The health prober, checking `active`'s pools.
pid_t launch_prober(const ChildContext& ctx, uint32_t slot, const conf::Config& active);
// The feeder of `streams`, running as its config says.
pid_t launch_feeder(const ChildContext& ctx, uint32_t slot, StreamSet& streams);
// The admin endpoint on the admin socket, showing `active_streams` (may be null).
pid_t launch_admin(const ChildContext& ctx, uint32_t slot, const conf::Config& active, StreamSet* active_streams);

}  // namespace wsgate::master
