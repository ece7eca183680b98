// Child processes and temp files for integration tests.
//
// ChildProcess starts a program with its stdout and stderr captured to files
// in its own TempDir, and kills and reaps it when it goes out of scope, so a
// failing test never leaves a backend or a wsgate running. Waits poll with
// timeouts and throw TestIoError (from ws_client.h) with the captured output on
// expiry, so a failure shows what the program said.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/feed_stats.h"
#include "tests/support/ws_client.h"

namespace wsgate::test {

// A fresh directory (mkdtemp) removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "wsgate-test");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);

struct ExitStatus {
  bool exited = false;  // normal exit: see code
  int code = -1;
  int signal = 0;  // killed by this signal
  bool ok() const { return exited && code == 0; }
  std::string describe() const;  // "exit 0", "killed by signal 9 (Killed)"
};

enum class Stream { kStdout, kStderr, kBoth };
enum class Match { kSubstring, kRegex };

class ChildProcess {
 public:
  // argv[0] is a path (or a name looked up in PATH). env_add holds "KEY=VALUE"
  // entries added to (or replacing in) this process's environment.
  explicit ChildProcess(std::vector<std::string> argv, const std::vector<std::string>& env_add = {});
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // SIGTERM, then SIGKILL after 2 s, then reap.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  std::string stdout_text() const;
  std::string stderr_text() const;
  std::filesystem::path stdout_path() const { return dir_ / "stdout"; }
  std::filesystem::path stderr_path() const { return dir_ / "stderr"; }

  // Waits until the output contains `pattern`; returns the match (for a regex
  // with a capture group, the first group). Throws on timeout or if the
  // process exits first.
  std::string wait_for_output(const std::string& pattern, milliseconds timeout = kDefaultTimeout,
                              Match how = Match::kSubstring, Stream where = Stream::kBoth);
  // The same check without waiting.
  bool has_output(const std::string& pattern, Match how = Match::kSubstring, Stream where = Stream::kBoth) const;

  void send_signal(int sig);
  // SIGTERM and wait_exit(): the graceful stop a test can assert on.
  ExitStatus stop(milliseconds timeout = kDefaultTimeout);
  // nullopt if still running after `timeout`.
  std::optional<ExitStatus> try_wait_exit(milliseconds timeout);
  // Throws if still running after `timeout`.
  ExitStatus wait_exit(milliseconds timeout = kDefaultTimeout);
  bool running();

 private:
  std::optional<std::string> find(const std::string& pattern, Match how, Stream where) const;
  bool reap(bool block);
  std::string output_tail() const;

  TempDir dir_{"wsgate-child"};
  std::string name_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// Path of the echo backend built alongside this library.
std::string echo_backend_path();

// wsgate-echo-backend --listen HOST:0 --name NAME [extra args], port parsed
// from its "listening on" line.
class EchoBackend {
 public:
  explicit EchoBackend(const std::string& name = "echo", std::vector<std::string> extra_args = {},
                       const std::string& host = "127.0.0.1");
  std::uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  ChildProcess& process() { return *process_; }
  // Convenience: WsClient::open against this backend.
  WsClient open(const std::string& path = "/", const std::vector<Header>& extra_headers = {},
                const std::vector<std::string>& protocols = {}, milliseconds timeout = kDefaultTimeout) const;

 private:
  std::string name_;
  std::string host_;
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

// A plain HTTP/1.1 GET (Connection: close) and its response, body read as far
// as Content-Length. Throws TestIoError on connect failure or timeout.
HttpResponse http_get(std::uint16_t port, const std::string& target, milliseconds timeout = kDefaultTimeout,
                      const std::string& host = "127.0.0.1");

// Path of the feed source built alongside this library.
std::string feed_source_path();

struct FeedSourceOptions {
  std::string name = "feed";
  std::uint64_t rate = 100;  // messages per second per channel; 0 = none
  std::size_t size = 128;    // bytes per message, >= 64
  std::uint64_t count = 0;   // per channel, then stop; 0 = no limit
  std::uint16_t port = 0;    // 0: any free loopback port
  bool quiet = false;
  // "= {}": GCC warns (-Wmissing-field-initializers) when a designated
  // initializer leaves out a member that has no default of its own.
  std::vector<std::string> extra_args = {};
};

// wsgate-feed-source on 127.0.0.1, port parsed from its "listening on" line.
// Stopping, killing and signalling go through process() (ChildProcess).
class FeedSource {
 public:
  explicit FeedSource(const std::string& name = "feed", std::uint64_t rate = 100, std::size_t size = 128,
                      std::uint64_t count = 0);
  explicit FeedSource(FeedSourceOptions options);

  std::uint16_t port() const { return port_; }
  const std::string& name() const { return options_.name; }
  const FeedSourceOptions& options() const { return options_; }
  // "ws://127.0.0.1:PORT" + path, e.g. for a wsgate source config.
  std::string url(const std::string& path = "/") const;
  // "127.0.0.1:PORT".
  std::string address() const;
  ChildProcess& process() { return *process_; }

  // Convenience: WsClient::open against this source (a direct subscriber).
  WsClient open(const std::string& path = "/", const std::vector<Header>& extra_headers = {},
                const std::vector<std::string>& protocols = {}, milliseconds timeout = kDefaultTimeout) const;
  // GET /_stats, parsed. Throws TestIoError unless it answers 200 with valid JSON.
  FeedStats stats(milliseconds timeout = kDefaultTimeout) const;
  // Polls stats() until `pred` holds; returns the last stats either way.
  template <class Pred>
  FeedStats wait_stats(Pred pred, milliseconds timeout = milliseconds(5000)) const;
  // GET /_drop: every WebSocket is reset (no close frame); the process lives on.
  void drop(milliseconds timeout = kDefaultTimeout) const;

  // SIGKILL and reap: an upstream that dies without a word.
  ExitStatus kill();
  // Stops (SIGKILL if still running) and starts again on the same port, with
  // fresh state (sequence numbers start at 1 again).
  void restart();

 private:
  void start();

  FeedSourceOptions options_;
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

template <class Pred>
FeedStats FeedSource::wait_stats(Pred pred, milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  FeedStats s = stats();
  while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
    ::usleep(10 * 1000);
    s = stats();
  }
  return s;
}

}  // namespace wsgate::test
