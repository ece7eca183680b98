#include "worker/log/line_file_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsgate::log {

namespace {
int open_append(const std::string& path, std::string* why) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 && why != nullptr) {
    *why = "open() of " + path + " failed (" + std::to_string(errno) + ": " + strerror(errno) + ")";
  }
  return fd;
}
}  // namespace

std::shared_ptr<LineFileSink> LineFileSink::open(const std::string& path, size_t buffer_limit, std::string* why) {
  int fd = open_append(path, why);
  if (fd < 0) {
    return nullptr;
  }
  return std::make_shared<LineFileSink>(fd, true, path, buffer_limit);
}

std::shared_ptr<LineFileSink> LineFileSink::on_fd(int fd, size_t buffer_limit) {
  return std::make_shared<LineFileSink>(fd, false, std::string(), buffer_limit);
}

LineFileSink::LineFileSink(int fd, bool owned, std::string path, size_t buffer_limit)
    : fd_(fd), owned_(owned), path_(std::move(path)), limit_(buffer_limit) {
  buffer_.reserve(limit_ + 1024);
}

LineFileSink::~LineFileSink() {
  write_out();
  if (owned_ && fd_ >= 0) {
    ::close(fd_);
  }
}

void LineFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  buffer_.append(line.data(), line.size());
  if (buffer_.size() > limit_) {
    write_out();
  }
}

void LineFileSink::flush_() { write_out(); }

// One write() per buffer: O_APPEND puts it at the end whole, even with other
// processes appending to the same file. A short write to a regular file
// means the disk is full: the rest is counted as lost, never retried forever.
void LineFileSink::write_out() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      lost_bytes_ += buffer_.size() - done;
      break;
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

bool LineFileSink::reopen(std::string* why) {
  write_out();
  if (!owned_) {
    return true;  // stderr: nothing to reopen
  }
  int fd = open_append(path_, why);
  if (fd < 0) {
    return false;
  }
  ::close(fd_);
  fd_ = fd;
  return true;
}

}  // namespace wsgate::log
