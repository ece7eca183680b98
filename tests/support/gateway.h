// A real wsgate for an integration test: writes the config (with a free
// loopback port as `listen`) into a temp dir, starts the binary, waits until
// every worker is ready, and reads `wsgate status --json` for assertions.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace wsgate::test {

std::string wsgate_path();
std::uint16_t free_port();

// "pools:\n  NAME:\n    backends: [...]" plus `extra` lines (already indented 4 spaces).
std::string pool_yaml(const std::string& name, const std::vector<std::uint16_t>& ports, const std::string& extra = "");

struct BackendStatus {
  std::string pool, address, state;
  long sessions = 0;
  std::vector<long> per_worker;
};

// One stream channel in use (wsgate status: "channels").
struct ChannelStatus {
  std::string stream, path, upstream;  // upstream: idle | connecting | up | backoff
  long subscribers = 0;
  std::vector<long> per_worker;
  long messages = 0, connects = 0;
};

struct Status {
  std::vector<int> worker_pids;    // by slot
  std::vector<std::string> roles;  // by slot: proxy, prober, feeder (none: a free slot)
  std::vector<int> generations;    // by slot
  std::vector<bool> draining;      // by slot
  int generation = 0;              // the one that accepts
  int draining_generations = 0;
  long reloads_ok = 0, reloads_failed = 0;
  // Pids of the live proxy workers of generation `g` (0: any).
  std::vector<int> proxies(int g = 0) const;
  std::vector<BackendStatus> backends;
  std::vector<ChannelStatus> channels;
  const BackendStatus* find(const std::string& address) const;
  long total_sessions() const;
  // The pid of the first slot with `role`, or 0.
  int pid_of(const std::string& role) const;
  const ChannelStatus* channel(const std::string& stream, const std::string& path = "") const;
};

class Gateway {
 public:
  // `body` is the config without `listen` (workers, limits, pools, routes),
  // or, when it starts with "listen:", with its own listen entries where
  // {PORT} and {TLSPORT} stand for port() and tls_port().
  // `env_add` ("KEY=VALUE") is added to wsgate's environment (ChildProcess).
  explicit Gateway(const std::string& body, unsigned workers = 2, const std::vector<std::string>& env_add = {});
  // SIGTERM and up to 8 s for the master to finish: it waits for close
  // replies up to close_timeout and only then unlinks its shared memory, so
  // ChildProcess's 2 s grace would leave segments behind in /dev/shm.
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  // `text` with {PORT} and {TLSPORT} replaced (for a config rewritten in a test).
  std::string with_ports(std::string text) const;
  const std::string& config_path() const { return config_path_; }
  ChildProcess& process() { return *process_; }

  WsClient open(const std::string& path, const std::vector<Header>& extra_headers = {},
                const std::vector<std::string>& protocols = {}, milliseconds timeout = kDefaultTimeout) const;

  Status status() const;
  // Polls status() until `pred` holds; returns the last status either way.
  template <class Pred>
  Status wait_status(Pred pred, milliseconds timeout = milliseconds(5000)) const;

 private:
  TempDir dir_{"wsgate-gw"};
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::string config_path_;
  std::unique_ptr<ChildProcess> process_;
};

// Runs `wsgate ARGS...`, returns exit code and stdout+stderr.
struct CommandResult {
  int code = -1;
  std::string out, err;
};
CommandResult run_wsgate(const std::vector<std::string>& args);

Status parse_status_json(const std::string& json);

template <class Pred>
Status Gateway::wait_status(Pred pred, milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status s = status();
  while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
    ::usleep(20 * 1000);
    s = status();
  }
  return s;
}

}  // namespace wsgate::test
