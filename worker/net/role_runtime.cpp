#include "worker/net/role_runtime.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>

#include "shm/slot_table.h"
#include "worker/log/log.h"
#include "worker/net/exit_codes.h"

namespace wsgate::worker {

bool RoleRuntime::start(StopSignals::OnStop on_stop, StopSignals::OnRetire on_retire,
                        Graveyard::AfterBurial after_burial) {
  if (!loop_.init() ||
      !stop_signals_.start(loop_.get(), who_.master_alive_fd, std::move(on_stop), std::move(on_retire)) ||
      !log_upkeep_.start(loop_.get()) || !fd_watch_.start(loop_.get())) {
    return false;
  }
  const int r = graveyard_.start(loop_.get(), std::move(after_burial));
  if (r != 0) {
    LOG_ERROR("uv_idle_init() failed (%s) for the graveyard", log::uv_error_text(r).c_str());
    return false;
  }
  return true;
}

void RoleRuntime::ready(const char* fmt, ...) {
  char line[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(line, sizeof line, fmt, args);
  va_end(args);
  shm::SlotTable(*who_.table).claim(who_.slot, getpid(), who_.role, who_.generation);
  LOG_INFO("%s", line);
}

int RoleRuntime::run() {
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  return kExitOk;
}

void RoleRuntime::close() {
  graveyard_.close();
  stop_signals_.close();
  log_upkeep_.close();
  fd_watch_.close();
}

}  // namespace wsgate::worker
