#include "master/child_process.h"
#include "master/launch.h"
#include "worker/prober/prober.h"

namespace wsgate::master {

pid_t launch_prober(const ChildContext& ctx, uint32_t slot, const conf::Config& active) {
  ChildPlumbing plumbing;
  plumbing.log_label = "prober";
  plumbing.process_name = "wsgate-prober";
  plumbing.alive_write_fd = ctx.alive_write_fd;
  plumbing.shed_fds = ctx.shed({}, false);
  plumbing.run_as = &active;
  const uint32_t generation = ctx.current_generation();
  return fork_child(plumbing, [&]() {
    worker::ProberArgs args;
    args.config = &active;
    args.table = ctx.table;
    args.slot = slot;
    args.generation = generation;
    args.master_alive_fd = ctx.alive_read_fd;
    return worker::run_prober(args);
  });
}

}  // namespace wsgate::master
