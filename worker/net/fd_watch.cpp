#include "worker/net/fd_watch.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "worker/log/log.h"

namespace wsgate::worker {

namespace {

// "the limit of 1024 open files (RLIMIT_NOFILE)" or the system's table.
std::string what_ran_out(int error) {
  if (error == ENFILE) {
    return "the system's file table is full (ENFILE; see fs.file-max)";
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  return "this process is at its limit of " + std::to_string(limit.rlim_cur) +
         " open files (EMFILE; RLIMIT_NOFILE, LimitNOFILE= in systemd)";
}

void warn(RateLimit& limit, uint64_t now_ms, int error, const char* doing) {
  if (!limit.allow(now_ms)) {
    return;
  }
  const std::string since =
      limit.suppressed() == 0 ? "" : " (" + std::to_string(limit.suppressed()) + " more since the last warning)";
  LOG_WARN("out of file descriptors while %s: %s; new connections are reset unanswered%s", doing,
           what_ran_out(error).c_str(), since.c_str());
}

RateLimit& accept_warnings() {
  static RateLimit limit(kFdWarnEveryMs);  // one per process: a role accepts on one loop
  return limit;
}

}  // namespace

bool RateLimit::allow(uint64_t now_ms) {
  if (ever_ && now_ms - last_ms_ < every_ms_) {
    ++skipped_;
    return false;
  }
  ever_ = true;
  last_ms_ = now_ms;
  suppressed_ = skipped_;
  skipped_ = 0;
  return true;
}

bool FdWatch::start(uv_loop_t* loop) {
  const int r = timer_.init(uv_timer_init, loop, this);
  if (r != 0) {
    LOG_ERROR("uv_timer_init() failed (%s) for the file descriptor probe", log::uv_error_text(r).c_str());
    return false;
  }
  uv_timer_start(timer_.get(), &FdWatch::on_probe, kFdProbeEveryMs, kFdProbeEveryMs);
  uv_unref(timer_.base());  // must not keep a stopping loop alive
  return true;
}

void FdWatch::close() { timer_.close(); }

void FdWatch::on_probe(uv_timer_t* t) {
  auto* self = static_cast<FdWatch*>(t->data);
  if (self == nullptr) {
    return;
  }
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int error = errno;
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  if (error == EMFILE || error == ENFILE) {
    warn(self->warn_, uv_now(t->loop), error, "accepting or dialing");
  }
}

void FdWatch::accept_failed(uv_loop_t* loop, int uv_status, const char* what) {
  if (uv_status == UV_EMFILE || uv_status == UV_ENFILE) {
    warn(accept_warnings(), uv_now(loop), -uv_status, what);
    return;
  }
  if (accept_warnings().allow(uv_now(loop))) {
    LOG_WARN("%s failed (%s)", what, log::uv_error_text(uv_status).c_str());
  }
}

}  // namespace wsgate::worker
