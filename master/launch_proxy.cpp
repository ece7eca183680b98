#include "master/child_process.h"
#include "master/generations.h"
#include "master/launch.h"
#include "master/stream_set.h"
#include "worker/edge/worker.h"
#include "worker/log/log.h"

namespace wsgate::master {

pid_t launch_proxy(const ChildContext& ctx, uint32_t slot, uint32_t index, const Generation* gen, StreamSet* streams,
                   const shm::ConfigBlob& blob, const conf::Config& active) {
  std::vector<int> mine;
  if (gen != nullptr) {
    mine = ctx.listeners->for_worker(gen->config->listen, index, gen->config->workers);
  }
  ChildPlumbing plumbing;
  plumbing.log_label = "worker " + std::to_string(slot);
  plumbing.process_name = "wsgate-w" + std::to_string(slot);
  plumbing.alive_write_fd = ctx.alive_write_fd;
  plumbing.shed_fds = ctx.shed(mine, false);
  // A reload may change the user: a worker runs as its generation says.
  plumbing.run_as = gen != nullptr ? gen->config.get() : &active;
  return fork_child(plumbing, [&]() {
    if (gen == nullptr) {
      LOG_ERROR("slot %u has no generation; exiting", slot);
      return worker::kExitFatal;
    }
    worker::WorkerArgs args;
    args.config = gen->config.get();
    args.table = ctx.table;
    args.blob = &blob;
    args.slot = slot;
    args.generation = gen->id;
    args.listen_fds = mine;
    args.master_alive_fd = ctx.alive_read_fd;
    if (streams != nullptr) {
      args.streams = streams->header();
      args.stream_ranges = streams->plan().ranges;
      args.stream_wake_fd = streams->worker_fd(slot);
      args.feeder_wake_fd = streams->feeder_fd();
    }
    return worker::run_worker(args);
  });
}

}  // namespace wsgate::master
