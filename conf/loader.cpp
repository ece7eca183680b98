#include "conf/loader.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conf/loader_fields.h"
#include "conf/units.h"
#include "conf/yaml_documents.h"

namespace wsgate::conf {

namespace {

std::string format_what(const std::string& file, int line, const std::string& key, const std::string& why) {
  std::string what = file + ":" + std::to_string(line) + ": ";
  if (!key.empty()) {
    what += key + ": ";  // errors about the whole file have no key to name
  }
  return what + why;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string why)
    : std::runtime_error(format_what(file, line, key, why)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      why_(std::move(why)) {}

namespace {

using namespace detail;

// Ranges from the config reference. Values outside them are almost always a
// slip of the unit ("16KiB" meant as "16MiB"), so they are refused, not clamped.
constexpr unsigned kMaxWorkers = 64;
constexpr size_t kMaxBackendsTotal = 512;  // sized for the shm backend table
constexpr size_t kMaxPools = 64;           // sized for the shm pool table (rate limiters)

// ---------------------------------------------------------------- sections

unsigned parse_workers(const Field& f) {
  const std::string expected = "an integer from 1 to " + std::to_string(kMaxWorkers) + " or \"auto\"";
  const std::string text = read_scalar(f, expected);
  if (text == "auto") {
    // hardware_concurrency() may answer 0 when it cannot tell.
    return std::clamp(std::thread::hardware_concurrency(), 1u, kMaxWorkers);
  }
  const auto workers = int_in_range(text, 1, kMaxWorkers);
  if (!workers) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  return static_cast<unsigned>(*workers);
}

// "20/s" or a plain 20, from 0 (off) to `hi`.
uint32_t read_rate(const Field& f, uint32_t hi) {
  const std::string expected = "a rate from 0 to " + std::to_string(hi) + " per second, like 20/s";
  const std::string text = read_scalar(f, expected);
  const auto rate = parse_rate(text);
  if (!rate || *rate > hi) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  return static_cast<uint32_t>(*rate);
}

Limits parse_limits(const Field& f) {
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  const Section s(f, {"max_message", "max_fragments", "max_header", "handshake_timeout", "max_connections",
                      "close_timeout", "max_connections_per_ip", "handshake_rate_per_ip"});
  Limits limits;
  if (auto v = s.find("max_message")) limits.max_message = read_size(*v, KiB, GiB);
  if (auto v = s.find("max_fragments")) limits.max_fragments = read_int<uint32_t>(*v, 1, 1000000);
  if (auto v = s.find("max_header")) limits.max_header = read_size(*v, KiB, MiB);
  if (auto v = s.find("handshake_timeout")) {
    limits.handshake_timeout = read_duration(*v, milliseconds(100), minutes(10));
  }
  if (auto v = s.find("max_connections")) {
    limits.max_connections = read_int<uint32_t>(*v, 1, 10000000);
  }
  if (auto v = s.find("close_timeout")) {
    limits.close_timeout = read_duration(*v, milliseconds(100), minutes(10));
  }
  if (auto v = s.find("max_connections_per_ip")) {
    // The shm table counts each worker's share in 16 bits (shm/ip_table_layout.h).
    limits.max_connections_per_ip = read_int<uint32_t>(*v, 0, 50000);
  }
  if (auto v = s.find("handshake_rate_per_ip")) limits.handshake_rate_per_ip = read_rate(*v, 1000000);
  return limits;
}

Backend parse_backend(const Field& f) {
  if (!f.node.IsMap()) {
    return Backend{read_endpoint(f)};
  }
  const Section s(f, {"address", "weight"});
  Backend backend{read_endpoint(s.require("address"))};
  if (auto v = s.find("weight")) backend.weight = read_int<uint32_t>(*v, 1, 1000);
  return backend;
}

// `total` counts backends over all pools, which share one fixed-size table.
std::vector<Backend> parse_backends(const Field& f, size_t& total) {
  const std::vector<Field> items = list_items(f, "a list of backend addresses or {address, weight} maps");
  if (items.empty()) {
    f.fail("expected at least one backend");
  }
  std::vector<Backend> backends;
  for (const Field& item : items) {
    if (++total > kMaxBackendsTotal) {
      item.fail("more than " + std::to_string(kMaxBackendsTotal) + " backends in total over all pools");
    }
    const Backend backend = parse_backend(item);
    const auto earlier = std::find_if(backends.begin(), backends.end(),
                                      [&](const Backend& b) { return b.endpoint == backend.endpoint; });
    if (earlier != backends.end()) {
      item.fail(backend.endpoint.to_string() + " is already a backend of this pool, at " + f.key + "[" +
                std::to_string(earlier - backends.begin()) + "]");
    }
    backends.push_back(backend);
  }
  return backends;
}

Balance read_balance(const Field& f) {
  const std::string text = read_scalar(f, "least_conn or round_robin");
  if (text == "least_conn") return Balance::least_conn;
  if (text == "round_robin") return Balance::round_robin;
  f.fail("expected least_conn or round_robin, got " + quote(text));
}

LossPolicy read_loss_policy(const Field& f) {
  const std::string text = read_scalar(f, "close or reconnect");
  if (text == "close") return LossPolicy::close;
  if (text == "reconnect") return LossPolicy::reconnect;
  f.fail("expected close or reconnect, got " + quote(text));
}

// The probe's request target, sent as is: unlike a route path it may carry a
// query (a backend's health mode), but never a fragment or whitespace.
std::string read_health_path(const Field& f) {
  std::string path = read_scalar(f, "a path like /health");
  if (path.empty() || path.front() != '/') {
    f.fail("expected a path starting with '/', got " + quote(path));
  }
  if (path.find('#') != std::string::npos) {
    f.fail("a health path cannot contain '#', got " + quote(path));
  }
  if (has_space_or_control(path)) {
    f.fail("a health path cannot contain whitespace, got " + quote(path));
  }
  return path;
}

// "health:" with every key commented out means the defaults, as for limits.
// A check must end before the next one is due, so that a backend that stops
// answering is down within interval * fall + timeout: the timeout defaults
// to the interval when that is shorter than 1s, and may not exceed it.
Health parse_health(const Field& f) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  Health health;
  if (f.node.IsNull()) {
    return health;
  }
  const Section s(f, {"interval", "timeout", "path", "rise", "fall"});
  if (auto v = s.find("interval")) health.interval = read_duration(*v, milliseconds(100), hours(1));
  health.timeout = std::min(health.timeout, health.interval);
  if (auto v = s.find("timeout")) {
    health.timeout = read_duration(*v, milliseconds(10), minutes(1));
    if (health.timeout > health.interval) {
      v->fail("expected at most the interval (" + format_duration(health.interval) +
              ") so that checks never overlap, got " + quote(v->node.Scalar()));
    }
  }
  if (auto v = s.find("path")) health.path = read_health_path(*v);
  if (auto v = s.find("rise")) health.rise = read_int<uint32_t>(*v, 1, 100);
  if (auto v = s.find("fall")) health.fall = read_int<uint32_t>(*v, 1, 100);
  return health;
}

Pool parse_pool(const Entry& entry, size_t& total_backends) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  if (!valid_name(entry.name)) {
    entry.fail("a pool name must be 1 to 48 characters from A-Z a-z 0-9 _ . -");
  }
  const Section s(entry.value, {"balance", "connect_timeout", "retries", "fail_timeout", "health", "on_backend_loss",
                                "loss_spread", "max_handshake_rate", "slow_start", "reconnect_buffer", "backends"});
  Pool pool;
  pool.name = entry.name;
  if (auto v = s.find("balance")) pool.balance = read_balance(*v);
  if (auto v = s.find("connect_timeout")) {
    pool.connect_timeout = read_duration(*v, milliseconds(10), minutes(10));
  }
  if (auto v = s.find("retries")) pool.retries = read_int<uint32_t>(*v, 0, 100);
  if (auto v = s.find("fail_timeout")) {
    pool.fail_timeout = read_duration(*v, milliseconds(0), hours(1));
  }
  if (auto v = s.find("health")) pool.health = parse_health(*v);
  if (auto v = s.find("on_backend_loss")) pool.on_backend_loss = read_loss_policy(*v);
  if (auto v = s.find("loss_spread")) {
    pool.loss_spread = read_duration(*v, milliseconds(0), minutes(10));
  }
  if (auto v = s.find("max_handshake_rate")) {
    pool.max_handshake_rate = read_int<uint32_t>(*v, 0, 1000000);
  }
  if (auto v = s.find("slow_start")) pool.slow_start = read_duration(*v, milliseconds(0), hours(1));
  if (auto v = s.find("reconnect_buffer")) pool.reconnect_buffer = read_size(*v, KiB, 16 * MiB);
  pool.backends = parse_backends(s.require("backends"), total_backends);
  return pool;
}

std::vector<Pool> parse_pools(const Field& f) {
  const std::vector<Entry> entries = map_entries(f);
  if (entries.empty()) {
    f.fail("expected at least one pool");
  }
  size_t total_backends = 0;
  std::vector<Pool> pools;
  for (const Entry& entry : entries) {
    if (pools.size() == kMaxPools) {
      entry.fail("more than " + std::to_string(kMaxPools) + " pools");
    }
    pools.push_back(parse_pool(entry, total_backends));
  }
  return pools;
}

// Paths are prefixes matched against the request target, so a query or
// fragment in one could never match, and whitespace is always a typo.
std::string read_path(const Field& f) {
  std::string path = read_scalar(f, "a path like /chat");
  if (path.empty() || path.front() != '/') {
    f.fail("expected a path starting with '/', got " + quote(path));
  }
  if (path.find_first_of("?#") != std::string::npos) {
    f.fail("a route path cannot contain '?' or '#', got " + quote(path));
  }
  if (has_space_or_control(path)) {
    f.fail("a route path cannot contain whitespace, got " + quote(path));
  }
  return path;
}

// An empty list is refused rather than read as "any Origin": leaving the key
// out says that plainly, while [] looks like "no Origin at all".
std::vector<std::string> read_origins(const Field& f) {
  const std::vector<Field> items = list_items(f, "a list of origins like [\"https://a.example\"]");
  if (items.empty()) {
    f.fail("expected at least one origin; leave the key out to allow any Origin");
  }
  std::vector<std::string> origins;
  for (const Field& item : items) {
    const std::string origin = read_scalar(item, "an origin like \"https://a.example\"");
    if (origin.empty() || has_space_or_control(origin)) {
      item.fail("expected an origin like \"https://a.example\", got " + quote(origin));
    }
    origins.push_back(origin);
  }
  return origins;
}

// 0s turns pinging off; anything else below 1s would ping a busy worker's
// idle clients many times a second, and is read as a slip of the unit.
Duration read_ping_interval(const Field& f) {
  using std::chrono::hours;
  using std::chrono::seconds;
  const std::string expected = "0s (off) or a duration from 1s to 1h";
  const std::string text = read_scalar(f, expected);
  const auto interval = parse_duration(text);
  if (!interval || (*interval != Duration::zero() && (*interval < seconds(1) || *interval > hours(1)))) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  return *interval;
}

// A ping is answered (or the client is given up) before the next one is due:
// pong_timeout defaults to half the interval when that is shorter than 10s,
// and may not reach it. Without pinging, pong_timeout is unused.
void parse_keepalive(const Section& s, Route& route) {
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  if (auto v = s.find("ping_interval")) route.ping_interval = read_ping_interval(*v);
  if (route.ping_interval != Duration::zero()) {
    route.pong_timeout = std::min(route.pong_timeout, route.ping_interval / 2);
  }
  if (auto v = s.find("pong_timeout")) {
    route.pong_timeout = read_duration(*v, milliseconds(100), minutes(10));
    if (route.ping_interval != Duration::zero() && route.pong_timeout >= route.ping_interval) {
      v->fail("expected less than ping_interval (" + format_duration(route.ping_interval) +
              ") so that a ping is answered before the next one is due, got " + quote(v->node.Scalar()));
    }
  }
}

// The index of the pool, stream or auth block named by `f` among `defined`;
// `what` names the kind in messages ("pool", "stream", "auth").
template <typename T>
size_t resolve(const Field& f, const std::vector<T>& defined, const std::string& what) {
  const char* article = what.front() == 'a' ? "an " : "a ";  // "an auth name"
  std::string name = read_scalar(f, article + what + " name");
  const auto it = std::find_if(defined.begin(), defined.end(), [&](const T& t) { return t.name == name; });
  if (it == defined.end()) {
    f.fail(what + " " + quote(name) + " is not defined");
  }
  return static_cast<size_t>(it - defined.begin());
}

// `seen` maps each path already routed to the index of its route. `top` is
// the document, to blame a missing `pools` when a route names a pool: pools
// are optional only when every route is a stream route.
Route parse_route(const Field& f, const Config& config, const Section& top,
                  std::unordered_map<std::string, size_t>& seen) {
  const Section s(f, {"path", "pool", "origins", "validate_utf8", "stream", "auth", "ping_interval", "pong_timeout"});
  Route route;
  const Field path = s.require("path");
  route.path = read_path(path);
  const auto [earlier, fresh] = seen.emplace(route.path, seen.size());
  if (!fresh) {
    path.fail(quote(route.path) + " is already routed by routes[" + std::to_string(earlier->second) + "]");
  }
  const auto pool = s.find("pool");
  const auto stream = s.find("stream");
  if (pool && stream) {
    f.fail("a route has either a pool or a stream, not both");
  }
  if (stream) {
    route.stream_index = resolve(*stream, config.streams, "stream");
    route.stream = config.streams[route.stream_index].name;
  } else {
    if (!pool) {
      Field{f.file, {}, join_key(f.key, "pool"), f.line}.fail(
          "required key is missing; a route needs a pool or a stream");
    }
    if (config.pools.empty()) {
      top.require("pools");  // absent: parse_pools refuses an empty map
    }
    route.pool_index = resolve(*pool, config.pools, "pool");
    route.pool = config.pools[route.pool_index].name;
  }
  if (auto v = s.find("auth")) {
    route.auth_index = resolve(*v, config.auths, "auth");
    route.auth = config.auths[*route.auth_index].name;
    // A pool route's upgrade is the backend's answer: wsgate cannot hold it
    // back for a key that only comes after it.
    if (!stream && config.auths[*route.auth_index].from == AuthFrom::first_message) {
      v->fail("auth " + quote(route.auth) +
              " takes the key from the first message, which only a stream route can wait for; "
              "use from: header or from: query on a pool route");
    }
  }
  if (auto v = s.find("origins")) route.origins = read_origins(*v);
  if (auto v = s.find("validate_utf8")) route.validate_utf8 = read_bool(*v);
  parse_keepalive(s, route);
  return route;
}

std::vector<Route> parse_routes(const Field& f, const Config& config, const Section& top) {
  const std::vector<Field> items = list_items(f, "a list of routes like {path: /chat, pool: chat}");
  if (items.empty()) {
    f.fail("expected at least one route");
  }
  std::vector<Route> routes;
  routes.reserve(items.size());
  std::unordered_map<std::string, size_t> seen;
  for (const Field& item : items) {
    routes.push_back(parse_route(item, config, top, seen));
  }
  return routes;
}

// `from: client_cert` reads a certificate only a TLS listener with
// verify_client can have asked for.
void check_client_cert_auth(const Config& config, const Section& top) {
  const bool verifies = std::any_of(config.listen.begin(), config.listen.end(), [](const Listen& l) {
    return l.tls && l.tls->verify_client != VerifyClient::off;
  });
  for (const Auth& a : config.auths) {
    if (a.from == AuthFrom::client_cert && !verifies) {
      top.require("auth").fail("auth " + a.name +
                               " reads the client certificate (from: client_cert), but no listener asks for one: "
                               "set verify_client on a TLS listener");
    }
  }
}

// Routes come last: they name pools, streams and auth blocks.
Config parse_document(const Field& root) {
  const Section top(root, {"listen", "workers", "limits", "pools", "routes", "streams", "auth", "drain_timeout",
                           "max_generations", "admin", "log", "user", "group"});
  Config config;
  config.file = std::string(root.file);
  config.listen = parse_listen(top.require("listen"));
  if (auto v = top.find("workers")) config.workers = parse_workers(*v);
  // "limits:" with every key commented out is a natural edit; treat it as empty.
  if (auto v = top.find("limits"); v && !v->node.IsNull()) config.limits = parse_limits(*v);
  if (auto v = top.find("pools")) config.pools = parse_pools(*v);
  if (auto v = top.find("streams")) config.streams = parse_streams(*v);
  if (auto v = top.find("auth")) config.auths = parse_auths(*v);
  if (auto v = top.find("drain_timeout")) {
    config.drain.drain_timeout = read_duration(*v, Duration::zero(), std::chrono::hours(24));
  }
  if (auto v = top.find("max_generations")) config.drain.max_generations = read_int<uint32_t>(*v, 1, 8);
  if (auto v = top.find("admin")) config.admin = parse_admin(*v);
  if (auto v = top.find("log")) config.log = parse_logs(*v);
  config.run_as = parse_run_as(top.find("user"), top.find("group"));
  config.routes = parse_routes(top.require("routes"), config, top);
  check_client_cert_auth(config, top);
  return config;
}

// ---------------------------------------------------------------- input

// The one document in the text. YAML::Load would silently ignore a second
// one, so it is refused instead.
YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  std::vector<YAML::Node> documents;
  try {
    documents = detail::load_documents(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard against a stack overflow; its message is only
    // "bad file" (0.7), so say what it means. No wsgate config nests deeper
    // than a handful of levels, so the bound is never a real one.
    throw ConfigError(file, line_of(e.mark), "",
                      "nested too deeply: the YAML parser stops at depth " + std::to_string(e.depth()) +
                          " (a wsgate config needs fewer than 10 levels)");
  } catch (const YAML::Exception& e) {
    throw ConfigError(file, line_of(e.mark), "", e.msg);
  }
  if (documents.empty() || documents.front().IsNull()) {
    throw ConfigError(file, 0, "", "the file is empty; expected listen, pools and routes");
  }
  // A trailing "---" yields an empty document; only one with content counts.
  const auto extra =
      std::find_if(documents.begin() + 1, documents.end(), [](const YAML::Node& d) { return !d.IsNull(); });
  if (extra != documents.end()) {
    throw ConfigError(file, line_of(extra->Mark()), "", "expected one YAML document, found another one here");
  }
  return documents.front();
}

}  // namespace

std::string read_config_file(const std::string& path) {
  std::string why;
  auto text = read_whole_file(path, &why);
  if (!text) {
    throw ConfigError(path, 0, "", "cannot read file: " + why);
  }
  return std::move(*text);
}

Config load_config_text(const std::string& text, const std::string& file) {
  const YAML::Node root = parse_yaml(text, file);
  return parse_document(Field{file, root, "", line_of(root.Mark())});
}

Config load_config(const std::string& path) { return load_config_text(read_config_file(path), path); }

}  // namespace wsgate::conf
