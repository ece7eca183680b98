// The configuration model: plain values, already validated by the loader.
// Nothing here does I/O; conf/loader.h builds it from YAML.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/endpoint.h"

namespace wsgate::conf {

using Duration = std::chrono::milliseconds;

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

struct Limits {
  uint64_t max_message = 16 * MiB;  // larger message -> close 1009
  uint32_t max_fragments = 4096;    // frames in one message; more -> close 1009
  uint64_t max_header = 16 * KiB;   // larger handshake header block -> 431
  Duration handshake_timeout = std::chrono::seconds(5);  // -> 408
  uint32_t max_connections = 100000;  // per worker; beyond -> 503
  Duration close_timeout = std::chrono::seconds(5);  // wait for a peer's close reply
};

struct Backend {
  Endpoint endpoint;
  uint32_t weight = 1;  // 1..1000
};

enum class Balance { least_conn, round_robin };

// Active health checks of every backend of a pool by the prober: a real
// WebSocket handshake on `path`, a ping/pong round trip, a close 1000.
struct Health {
  Duration interval = std::chrono::seconds(1);  // start to start of two checks of one backend
  Duration timeout = std::chrono::seconds(1);   // a whole check; never above interval
  std::string path = "/";                       // request target; may carry a query
  uint32_t rise = 2;  // good checks in a row that bring a down backend back
  uint32_t fall = 2;  // failures in a row (checks or passive) that take it down
};

// What a relaying session does when its backend is lost (part B of issue 4).
enum class LossPolicy { close, reconnect };

struct Pool {
  std::string name;
  Balance balance = Balance::least_conn;
  Duration connect_timeout = std::chrono::seconds(2);  // TCP connect, and again for the 101
  uint32_t retries = 2;                                // other backends tried after a failure
  Duration fail_timeout = std::chrono::seconds(10);    // passive health: skip a failed backend
                                                       // (unused when `health` is set)
  std::optional<Health> health;                        // nullopt: passive health only
  LossPolicy on_backend_loss = LossPolicy::close;
  Duration loss_spread = std::chrono::seconds(1);      // spread reconnects of a lost backend
  uint32_t max_handshake_rate = 0;                     // upgrades/s over all workers; 0 = unlimited
  Duration slow_start = Duration::zero();              // ramp-up of a backend back up; 0 = off
  uint64_t reconnect_buffer = 64 * KiB;                // per session while reconnecting
  std::vector<Backend> backends;                       // at least one
};

struct Route {
  std::string path;                  // prefix, starts with '/'; longest match wins
  std::string pool;                  // name of a pool
  size_t pool_index = 0;             // index into Config::pools, resolved by the loader
  std::vector<std::string> origins;  // empty = any Origin; else exact, case-insensitive match
  bool validate_utf8 = true;         // close 1007 on invalid UTF-8 in text messages
};

struct Config {
  std::string file;                // the path it was loaded from, as given
  std::vector<Endpoint> listen;    // at least one
  unsigned workers = 1;            // "auto" resolves to the CPU count
  Limits limits;
  std::vector<Pool> pools;
  std::vector<Route> routes;
};

}  // namespace wsgate::conf
