#include "master/stream_set.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "master/privileges.h"
#include "shm/layout.h"

namespace wsgate::master {

namespace {

int make_eventfd() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(std::string("eventfd() failed: ") + strerror(errno));
  }
  return fd;
}

}  // namespace

StreamSet::StreamSet(uint32_t id, std::shared_ptr<const conf::Config> config, const std::string& table_segment_name)
    : id_(id),
      config_(std::move(config)),
      plan_(worker::plan_streams(*config_)),
      segment_(
          shm::StreamSegment::create(shm::StreamSegment::name_for(table_segment_name, id), getpid(), plan_.channels,
                                     segment_mode_for(*config_))) {
  try {
    for (uint32_t s = 0; s < shm::kMaxSlots; ++s) {
      worker_fds_.push_back(make_eventfd());
    }
    feeder_fd_ = make_eventfd();
  } catch (...) {
    for (int fd : worker_fds_) {
      close(fd);
    }
    throw;
  }
}

StreamSet::~StreamSet() {
  for (int fd : worker_fds_) {
    close(fd);
  }
  if (feeder_fd_ >= 0) {
    close(feeder_fd_);
  }
}

}  // namespace wsgate::master
