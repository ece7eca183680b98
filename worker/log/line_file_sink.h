// An spdlog sink that appends whole lines to a file shared by every wsgate
// process. spdlog's basic_file_sink writes through stdio, whose buffer is
// flushed wherever it fills — in the middle of a line — so two workers
// appending to one file could interleave halves of their lines. This sink
// keeps its own buffer of complete lines and hands it to one write() on an
// O_APPEND descriptor, which the kernel appends whole.
//
// Single-threaded (null_mutex): each process logs from its own loop thread.
// The buffer is bounded: past `buffer_limit` bytes it is written at once, so
// a burst costs one system call per buffer, not one per line; a limit of 0
// writes every line as it comes (the error log). Nothing here blocks beyond
// a write() to a regular file.
#pragma once

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <memory>
#include <string>

namespace wsgate::log {

class LineFileSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  // Opens (creating, mode 0640) `path` for appending; nullptr with *why set
  // to the errno text when it cannot.
  static std::shared_ptr<LineFileSink> open(const std::string& path, size_t buffer_limit, std::string* why);
  // A sink on a descriptor it does not own (stderr).
  static std::shared_ptr<LineFileSink> on_fd(int fd, size_t buffer_limit);

  LineFileSink(int fd, bool owned, std::string path, size_t buffer_limit);
  ~LineFileSink() override;
  LineFileSink(const LineFileSink&) = delete;
  LineFileSink& operator=(const LineFileSink&) = delete;

  // Writes what is buffered, then opens the path again (logrotate renamed
  // the file: new lines go to a fresh one). On failure the old file stays in
  // use and *why says why.
  bool reopen(std::string* why);
  const std::string& path() const { return path_; }
  // Lines lost to write errors (disk full, ...), for the one warning.
  uint64_t lost_bytes() const { return lost_bytes_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void write_out();

  int fd_;
  bool owned_;
  std::string path_;
  size_t limit_;
  std::string buffer_;
  uint64_t lost_bytes_ = 0;
};

}  // namespace wsgate::log
