// Command line of wsgate-bench-client. Every load loop is bounded: a duration
// or session cap, plus hard caps enforced here.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/bench/connection.h"

namespace wsgate::bench {

enum class Mode { kEcho, kHandshake, kIdle, kSubscribe };

struct Options {
  Mode mode = Mode::kEcho;
  std::vector<Endpoint> targets;             // connections are spread over them round-robin
  std::vector<sockaddr_in> sources;          // source addresses, round-robin; empty: kernel's choice
  std::uint32_t connections = 100;           // echo, idle, subscribe
  std::uint32_t inflight = 1;                // echo: messages in flight per connection
  std::size_t size = 64;                     // message size in bytes
  double duration = 5;                       // echo, subscribe: measured seconds; handshake: time cap
  double warmup = 1;                         // echo, subscribe: seconds before measuring
  std::uint64_t max_messages = 200'000'000;  // echo: hard cap on messages sent
  std::uint32_t sessions = 5000;             // handshake: sessions to run (hard cap)
  std::uint32_t concurrency = 1024;          // handshake: sessions in flight; echo/idle: connects in flight
  double hold = 120;                         // idle: seconds to hold after ready unless signalled
  double timeout = 60;                       // echo/idle/subscribe: time allowed to open every connection
  double connect_rate = 0;                   // subscribe: connects started per second (0: no limit)
  double wait_go = 0;                        // subscribe: longest wait for SIGUSR2 once subscribed (0: none)
  std::string headers;                       // extra upgrade request headers, "Name: value\r\n" each
  double close_grace = 10;                   // time allowed for close handshakes at the end
  // wss:// targets
  std::string ca_file;        // --ca-file: verify servers against this CA
  bool insecure = false;      // --insecure: verify nothing
  bool resume = false;        // --resume: offer the newest session/ticket a server gave
  int tls_version = 0;        // --tls-version 1.2|1.3 (0: either)
};

// Parses argv; on error prints why and the usage to stderr and returns nullopt.
std::optional<Options> parse_options(int argc, char** argv);

}  // namespace wsgate::bench
