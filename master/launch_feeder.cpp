#include "master/child_process.h"
#include "master/launch.h"
#include "master/stream_set.h"
#include "worker/feeder/feeder.h"

namespace wsgate::master {

pid_t launch_feeder(const ChildContext& ctx, uint32_t slot, StreamSet& streams) {
  ChildPlumbing plumbing;
  plumbing.log_label = "feeder";
  plumbing.process_name = "wsgate-feeder";
  plumbing.alive_write_fd = ctx.alive_write_fd;
  plumbing.shed_fds = ctx.shed({}, false);
  // The set's config, not the active one: an old set keeps feeding the
  // generation that retires, as the user it was started for.
  plumbing.run_as = &streams.config();
  const uint32_t generation = ctx.current_generation();
  return fork_child(plumbing, [&]() {
    worker::FeederArgs args;
    args.config = &streams.config();
    args.table = ctx.table;
    args.streams = streams.header();
    args.slot = slot;
    args.generation = generation;
    args.wake_fd = streams.feeder_fd();
    args.worker_fds = streams.worker_fds();
    args.master_alive_fd = ctx.alive_read_fd;
    return worker::run_feeder(args);
  });
}

}  // namespace wsgate::master
