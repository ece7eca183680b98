#include "master/child_process.h"
#include "master/generations.h"
#include "master/launch.h"
#include "master/stream_set.h"
#include "worker/edge/worker.h"
#include "worker/log/log.h"

namespace wsgate::master {

pid_t launch_proxy(const ChildContext& ctx, uint32_t slot, uint32_t index, const Generation* gen, StreamSet* streams,
                   const shm::ConfigBlob& blob, const TlsBlobs& tls, const conf::Config& active) {
  std::vector<int> mine;
  std::vector<uint32_t> mine_listen;  // for each fd, its entry in `listen` (TLS or not)
  if (gen != nullptr) {
    const std::vector<conf::Endpoint> addresses = gen->config->listen_addresses();
    for (size_t i = 0; i < addresses.size(); ++i) {
      for (int fd : ctx.listeners->for_worker({addresses[i]}, index, gen->config->workers)) {
        mine.push_back(fd);
        mine_listen.push_back(static_cast<uint32_t>(i));
      }
    }
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
    args.listen_entries = mine_listen;
    args.tls_blob = &tls.material;
    args.ticket_blob = &tls.tickets;
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
