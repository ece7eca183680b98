// The configuration model: plain values, already validated by the loader.
// Nothing here does I/O; conf/loader.h builds it from YAML.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conf/endpoint.h"

namespace wsgate::conf {

using Duration = std::chrono::milliseconds;

inline constexpr uint64_t KiB = 1024;
inline constexpr uint64_t MiB = 1024 * KiB;
inline constexpr uint64_t GiB = 1024 * MiB;

struct Limits {
  uint64_t max_message = 16 * MiB;                       // larger message -> close 1009
  uint32_t max_fragments = 4096;                         // frames in one message; more -> close 1009
  uint64_t max_header = 16 * KiB;                        // larger handshake header block -> 431
  Duration handshake_timeout = std::chrono::seconds(5);  // -> 408
  uint32_t max_connections = 100000;                     // per worker; beyond -> 503
  Duration close_timeout = std::chrono::seconds(5);      // wait for a peer's close reply
  // Per client address over all workers (IPv6: per /64); 0 = off.
  uint32_t max_connections_per_ip = 0;  // beyond -> 503 + Retry-After
  uint32_t handshake_rate_per_ip = 0;   // new connections/s, bursts of 1 s worth; beyond -> 429
  bool operator==(const Limits&) const = default;
};

struct Backend {
  Endpoint endpoint;
  uint32_t weight = 1;  // 1..1000
  bool operator==(const Backend&) const = default;
};

enum class Balance { least_conn, round_robin };

// Active health checks of every backend of a pool by the prober: a real
// WebSocket handshake on `path`, a ping/pong round trip, a close 1000.
struct Health {
  Duration interval = std::chrono::seconds(1);  // start to start of two checks of one backend
  Duration timeout = std::chrono::seconds(1);   // a whole check; never above interval
  std::string path = "/";                       // request target; may carry a query
  uint32_t rise = 2;                            // good checks in a row that bring a down backend back
  uint32_t fall = 2;                            // failures in a row (checks or passive) that take it down
  bool operator==(const Health&) const = default;
};

// What a relaying session does when its backend is lost (F14).
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
  Duration loss_spread = std::chrono::seconds(1);  // spread reconnects of a lost backend
  uint32_t max_handshake_rate = 0;                 // upgrades/s over all workers; 0 = unlimited
  Duration slow_start = Duration::zero();          // ramp-up of a backend back up; 0 = off
  uint64_t reconnect_buffer = 64 * KiB;            // per session while reconnecting
  std::vector<Backend> backends;                   // at least one
  bool operator==(const Pool&) const = default;
};

// A ws:// or wss:// URL a feeder dials: where to connect and what to ask for.
struct SourceUrl {
  std::string text;   // as written, for logs
  Endpoint endpoint;  // host:port to connect to; host empty when `name` is set
  std::string name;   // a host name, resolved at every (re)connect; empty: numeric
  std::string host;   // Host header value ("host" or "host:port" as written)
  std::string path;   // request target, starts with '/'; may carry a query
  bool tls = false;   // wss://
  // The name to verify and send as SNI when no tls.server_name is set.
  std::string host_name() const { return name.empty() ? endpoint.host : name; }
  bool operator==(const SourceUrl&) const = default;
};

// TLS to an upstream (`tls:` of a stream; wss:// sources). The files are read
// by the loader, so a broken path is a config error with its line and a
// worker that dropped its privileges needs no access to them.
struct UpstreamTls {
  bool verify = true;       // chain and host name; false is logged as a warning
  std::string ca;           // path; empty: the system store
  std::string ca_pem;       // its contents
  std::string server_name;  // SNI and the name verified; empty: the URL's host
  std::string cert, cert_pem;  // optional client certificate (mutual TLS)
  std::string key, key_pem;
  bool tls12 = true;
  bool tls13 = true;
  bool operator==(const UpstreamTls&) const = default;
};

// Fan-out streams: one upstream connection per channel per host,
// held by the feeder process, copied to every subscriber by the workers.
enum class ChannelMode { single, per_path };
enum class SlowPolicy { drop_oldest, close };
enum class ClientMessages { drop, close };  // what a subscriber's data messages get

struct Stream {
  std::string name;
  std::vector<SourceUrl> sources;  // at least one; tried in order
  ChannelMode channels = ChannelMode::single;
  // Sent upstream after every (re)connect, in order. ${ENV} is expanded by the
  // loader (an unset variable is a config error); ${path} is left for the
  // feeder, which puts in the channel path.
  std::vector<std::string> on_connect_send;
  uint32_t history = 0;                 // last N messages replayed to a new subscriber
  uint64_t ring = 4 * MiB;              // shared-memory ring per channel
  uint64_t subscriber_queue = 1 * MiB;  // per-subscriber output bound
  SlowPolicy slow_subscriber = SlowPolicy::drop_oldest;
  ClientMessages client_messages = ClientMessages::drop;
  Duration linger = std::chrono::seconds(30);          // keep the upstream after the last subscriber
  bool always_on = false;                              // connect at start (single channel only)
  uint32_t max_channels = 64;                          // per_path: distinct paths at once; single: 1
  uint32_t max_channels_per_ip = 8;                    // per_path: channels in use one client address created
  Duration connect_timeout = std::chrono::seconds(5);  // TCP connect + TLS + 101
  Duration backoff_max = std::chrono::seconds(10);     // reconnect backoff ceiling
  UpstreamTls tls;                                     // for its wss:// sources
  // Extra upgrade request lines, ${ENV} expanded by the loader; validated
  // there (no CR/LF, no hop-by-hop or handshake header).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string origin;                     // Origin header; empty: none
  std::vector<std::string> subprotocols;  // Sec-WebSocket-Protocol offer
  bool operator==(const Stream&) const = default;
};

enum class AuthFrom { header, query, first_message, client_cert };

struct Auth {
  std::string name;
  std::string keys_file;  // as written in the config
  AuthFrom from = AuthFrom::header;
  std::string field = "key";                    // query: parameter name; first_message: JSON field
  Duration timeout = std::chrono::seconds(10);  // first_message: wait for it this long
  std::vector<std::string> keys;                // read from keys_file by the loader
  bool operator==(const Auth&) const = default;
};

struct Route {
  std::string path;                  // prefix, starts with '/'; longest match wins
  std::string pool;                  // name of a pool; empty on a stream route
  size_t pool_index = 0;             // index into Config::pools, resolved by the loader
  std::string stream;                // name of a stream; empty on a pool route
  size_t stream_index = 0;           // index into Config::streams, resolved by the loader
  std::string auth;                  // name of an auth block; empty = no auth
  std::optional<size_t> auth_index;  // index into Config::auths
  bool is_stream() const { return !stream.empty(); }
  std::vector<std::string> origins;  // empty = any Origin; else exact, case-insensitive match
  bool validate_utf8 = true;         // close 1007 on invalid UTF-8 in text messages
  // Keepalive toward the client: after ping_interval without a frame from it,
  // wsgate pings it; nothing back within pong_timeout -> half-open, closed.
  Duration ping_interval = Duration::zero();         // 0 = off; else 1s..1h
  Duration pong_timeout = std::chrono::seconds(10);  // < ping_interval when pinging
  bool operator==(const Route&) const = default;
};

// Reload (SIGHUP) and graceful stops: a replaced generation of workers keeps
// its sessions up to drain_timeout, then closes the rest with 1001.
struct Drain {
  Duration drain_timeout = std::chrono::minutes(5);
  uint32_t max_generations = 2;  // draining at once; one more shortens the oldest's drain
  // The window over which what is left at the deadline gets its 1001, so
  // the clients do not all reconnect in the same instant: a tenth, at most 10 s.
  Duration spread() const { return std::min<Duration>(std::chrono::seconds(10), drain_timeout / 10); }
  bool operator==(const Drain&) const = default;
};

// Observability: where the logs go. Empty paths: no access log,
// errors to stderr.
enum class LogFormat { text, json };

struct Logs {
  std::string access;                  // one line per session at its end
  LogFormat format = LogFormat::text;  // of the access log
  std::string error;                   // the error log; empty = stderr
  bool operator==(const Logs&) const = default;
};

// Who the workers run as (top-level `user` and `group`): the master keeps
// its identity to bind sockets and create shared memory, and each worker
// drops to this one right after fork (master/privileges.h). Resolved by the
// loader from the user and group databases, so an unknown name is a config
// error and a worker needs no lookup after fork.
struct RunAs {
  std::string user;  // name as written
  uid_t uid = 0;
  std::string group;          // as written; empty: the user's primary group
  gid_t gid = 0;              // `group`'s, else the user's primary group
  std::vector<gid_t> groups;  // supplementary groups: the user's memberships plus gid
  int line = 0;               // of `user`, for errors found at start
  // Who, not where it is written: moving the key in the file changes nothing.
  bool operator==(const RunAs& o) const {
    return user == o.user && uid == o.uid && group == o.group && gid == o.gid && groups == o.groups;
  }
};

// A TLS listener (`listen: - address: ..., tls: {...}`). Paths are resolved
// against the config file's directory; the files themselves are read and
// checked by the master (worker/net/tls_material.h), which publishes their
// bytes to the workers so a reload can swap certificates in place.
struct TlsCertificate {
  std::string cert;  // PEM: the leaf first, then its chain
  std::string key;   // PEM: RSA or ECDSA
  int line = 0;
  bool operator==(const TlsCertificate& o) const { return cert == o.cert && key == o.key; }
};

enum class VerifyClient { off, optional, required };

struct ListenTls {
  std::vector<TlsCertificate> certificates;  // at least one; the first is the default
  bool tls12 = true;
  bool tls13 = true;
  std::string ciphers;       // TLS 1.2, OpenSSL syntax; empty: forward-secret AEAD suites only
  std::string ciphersuites;  // TLS 1.3; empty: OpenSSL's
  bool session_tickets = true;
  Duration ticket_rotation = std::chrono::hours(1);
  bool strict_sni = false;
  std::string client_ca;  // empty: no mutual TLS
  VerifyClient verify_client = VerifyClient::off;
  int line = 0;
  bool operator==(const ListenTls& o) const {
    return certificates == o.certificates && tls12 == o.tls12 && tls13 == o.tls13 && ciphers == o.ciphers &&
           ciphersuites == o.ciphersuites && session_tickets == o.session_tickets &&
           ticket_rotation == o.ticket_rotation && strict_sni == o.strict_sni && client_ca == o.client_ca &&
           verify_client == o.verify_client;
  }
};

// One `listen` entry: a plain string is a plain ws listener.
struct Listen {
  Endpoint address;
  std::optional<ListenTls> tls;
  bool operator==(const Listen&) const = default;
};

struct Config {
  std::string file;              // the path it was loaded from, as given
  std::vector<Listen> listen;  // at least one
  unsigned workers = 1;          // "auto" resolves to the CPU count
  Limits limits;
  std::vector<Pool> pools;
  std::vector<Stream> streams;
  std::vector<Auth> auths;
  std::vector<Route> routes;
  Drain drain;
  std::optional<Endpoint> admin;  // /metrics and /status; no auth: keep it on loopback
  Logs log;
  std::optional<RunAs> run_as;  // `user`/`group`; nullopt: workers keep the master's identity

  std::vector<Endpoint> listen_addresses() const;
  bool has_tls() const;
};

}  // namespace wsgate::conf
