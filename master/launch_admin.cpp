#include "master/child_process.h"
#include "master/launch.h"
#include "master/stream_set.h"
#include "worker/admin/admin_server.h"

namespace wsgate::master {

pid_t launch_admin(const ChildContext& ctx, uint32_t slot, const conf::Config& active, StreamSet* active_streams) {
  ChildPlumbing plumbing;
  plumbing.log_label = "admin";
  plumbing.process_name = "wsgate-admin";
  plumbing.alive_write_fd = ctx.alive_write_fd;
  plumbing.shed_fds = ctx.shed({}, true);
  plumbing.run_as = &active;
  const uint32_t generation = ctx.current_generation();
  return fork_child(plumbing, [&]() {
    worker::AdminArgs args;
    args.config = &active;
    args.table = ctx.table;
    args.streams = active_streams != nullptr ? active_streams->header() : nullptr;
    args.slot = slot;
    args.generation = generation;
    args.listen_fd = ctx.admin_fd;
    args.master_alive_fd = ctx.alive_read_fd;
    return worker::run_admin(args);
  });
}

}  // namespace wsgate::master
