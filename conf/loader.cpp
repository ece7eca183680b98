#include "conf/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conf/units.h"

namespace wsgate::conf {

namespace {

// Ranges from the config reference. Values outside them are almost always a
// slip of the unit ("16KiB" meant as "16MiB"), so they are refused, not clamped.
constexpr unsigned kMaxWorkers = 64;
constexpr size_t kMaxBackendsTotal = 512;  // sized for the shm backend table
constexpr size_t kMaxPools = 64;           // sized for the shm pool table (rate limiters)
constexpr size_t kMaxPoolName = 48;
constexpr size_t kMaxQuoted = 80;  // longer values are cut short in messages

std::string format_what(const std::string& file, int line, const std::string& key,
                        const std::string& why) {
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

// ---------------------------------------------------------------- messages

// A value as messages show it: in double quotes, control bytes escaped, and
// cut short so that a stray megabyte of text does not become the error.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text.substr(0, kMaxQuoted)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out + (text.size() > kMaxQuoted ? "...\"" : "\"");
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// "16KiB", not "16384": the reader wrote the limits in units.
std::string format_size(uint64_t bytes) {
  if (bytes != 0 && bytes % GiB == 0) return std::to_string(bytes / GiB) + "GiB";
  if (bytes != 0 && bytes % MiB == 0) return std::to_string(bytes / MiB) + "MiB";
  if (bytes != 0 && bytes % KiB == 0) return std::to_string(bytes / KiB) + "KiB";
  return std::to_string(bytes) + "B";
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// ---------------------------------------------------------------- fields

// yaml-cpp marks are 0-based, and -1 when a node has no position.
int line_of(const YAML::Mark& mark) { return mark.line < 0 ? 0 : mark.line + 1; }

// An empty value ("key:") is marked at the token after it, often on the next
// line, so blame the line of its key instead.
int value_line(const YAML::Node& value, int key_line) {
  const int line = line_of(value.Mark());
  return value.IsNull() || line == 0 ? key_line : line;
}

std::string join_key(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

// A value in the document together with what is needed to blame it: the
// file, the dotted key leading to it and its line.
struct Field {
  std::string_view file;
  YAML::Node node;
  std::string key;  // "" for the document itself
  int line = 0;     // 1-based

  [[noreturn]] void fail(const std::string& why) const {
    throw ConfigError(std::string(file), line, key, why);
  }

  Field child(const YAML::Node& value, std::string child_key, int key_line) const {
    return Field{file, value, std::move(child_key), value_line(value, key_line)};
  }
};

struct Entry {
  std::string name;
  int key_line;
  Field value;
};

// The key/value pairs of a map, in document order. Keys must be plain
// strings and appear once: yaml-cpp would silently keep the first of two.
std::vector<Entry> map_entries(const Field& map) {
  if (!map.node.IsMap()) {
    map.fail("expected a map, got " + describe(map.node));
  }
  std::vector<Entry> entries;
  std::unordered_map<std::string, int> first_line;  // name -> line of its first use
  for (const auto& pair : map.node) {
    const int key_line = value_line(pair.first, map.line);
    if (!pair.first.IsScalar()) {
      Field{map.file, pair.first, map.key, key_line}.fail("keys must be plain strings");
    }
    const std::string& name = pair.first.Scalar();
    const std::string key = join_key(map.key, name);
    const auto [earlier, fresh] = first_line.emplace(name, key_line);
    if (!fresh) {
      Field{map.file, pair.first, key, key_line}.fail(
          "duplicate key; first given on line " + std::to_string(earlier->second));
    }
    entries.push_back(Entry{name, key_line, map.child(pair.second, key, key_line)});
  }
  return entries;
}

// The items of a list, named key[0], key[1], ...
std::vector<Field> list_items(const Field& list, const std::string& expected) {
  if (!list.node.IsSequence()) {
    list.fail("expected " + expected + ", got " + describe(list.node));
  }
  std::vector<Field> items;
  for (const YAML::Node& item : list.node) {
    const std::string key = list.key + "[" + std::to_string(items.size()) + "]";
    items.push_back(list.child(item, key, list.line));
  }
  return items;
}

// A map with a fixed set of keys, every one of them optional until asked
// for with require(). Unknown keys are refused up front: a misspelt key
// silently left at its default is the worst kind of config bug.
class Section {
 public:
  Section(const Field& map, std::initializer_list<std::string_view> known)
      : map_(map), entries_(map_entries(map)) {
    for (const Entry& entry : entries_) {
      if (std::find(known.begin(), known.end(), entry.name) == known.end()) {
        Field{map_.file, {}, join_key(map_.key, entry.name), entry.key_line}.fail(
            "unknown key; expected one of " + list_names(known));
      }
    }
  }

  std::optional<Field> find(std::string_view name) const {
    for (const Entry& entry : entries_) {
      if (entry.name == name) {
        return entry.value;
      }
    }
    return std::nullopt;
  }

  // A missing key has no line of its own: blame the map that lacks it.
  Field require(std::string_view name) const {
    auto field = find(name);
    if (!field) {
      Field{map_.file, {}, join_key(map_.key, name), map_.line}.fail("required key is missing");
    }
    return *field;
  }

 private:
  static std::string list_names(std::initializer_list<std::string_view> names) {
    std::string out;
    for (const std::string_view name : names) {
      out += (out.empty() ? "" : ", ") + std::string(name);
    }
    return out;
  }

  Field map_;
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------- scalars

std::string read_scalar(const Field& f, const std::string& expected) {
  if (!f.node.IsScalar()) {
    f.fail("expected " + expected + ", got " + describe(f.node));
  }
  return f.node.Scalar();
}

// Decimal digits with an optional '-', nothing else ("+1", "0x10", "1.0" and
// " 1" are refused), within [lo, hi].
std::optional<int64_t> int_in_range(const std::string& text, int64_t lo, int64_t hi) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || rest != end || value < lo || value > hi) {
    return std::nullopt;
  }
  return value;
}

template <typename T>
T read_int(const Field& f, T lo, T hi) {
  const std::string expected =
      "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  const std::string text = read_scalar(f, expected);
  const auto value = int_in_range(text, static_cast<int64_t>(lo), static_cast<int64_t>(hi));
  if (!value) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  return static_cast<T>(*value);
}

uint64_t read_size(const Field& f, uint64_t lo, uint64_t hi) {
  const std::string expected = "a size like 16KiB";
  const std::string text = read_scalar(f, expected);
  const auto size = parse_size(text);
  if (!size) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  if (*size < lo || *size > hi) {
    f.fail("expected a size from " + format_size(lo) + " to " + format_size(hi) + ", got " +
           quote(text));
  }
  return *size;
}

Duration read_duration(const Field& f, Duration lo, Duration hi) {
  const std::string expected = "a duration like 5s or 500ms";  // the unit is not optional
  const std::string text = read_scalar(f, expected);
  const auto duration = parse_duration(text);
  if (!duration) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  if (*duration < lo || *duration > hi) {
    f.fail("expected a duration from " + format_duration(lo) + " to " + format_duration(hi) +
           ", got " + quote(text));
  }
  return *duration;
}

// Only the YAML 1.2 spellings: yaml-cpp would also take "yes", "on" and "y".
bool read_bool(const Field& f) {
  const std::string text = read_scalar(f, "true or false");
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  f.fail("expected true or false, got " + quote(text));
}

Endpoint read_endpoint(const Field& f) {
  const std::string text = read_scalar(f, "an address like 127.0.0.1:8080");
  std::string why;
  auto endpoint = parse_endpoint(text, &why);
  if (!endpoint) {
    f.fail("invalid address " + quote(text) + ": " + why);
  }
  return *endpoint;
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

// ---------------------------------------------------------------- sections

std::vector<Endpoint> parse_listen(const Field& f) {
  // One address may be written bare; several as a list.
  const std::vector<Field> items =
      f.node.IsSequence() ? list_items(f, "a list of addresses") : std::vector<Field>{f};
  if (items.empty()) {
    f.fail("expected at least one address like 127.0.0.1:8080");
  }
  std::vector<Endpoint> listen;
  for (const Field& item : items) {
    const Endpoint endpoint = read_endpoint(item);
    const auto earlier = std::find(listen.begin(), listen.end(), endpoint);
    if (earlier != listen.end()) {
      item.fail(endpoint.to_string() + " is already listed as listen[" +
                std::to_string(earlier - listen.begin()) + "]");
    }
    listen.push_back(endpoint);
  }
  return listen;
}

unsigned parse_workers(const Field& f) {
  const std::string expected = "an integer from 1 to " + std::to_string(kMaxWorkers) +
                               " or \"auto\"";
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

Limits parse_limits(const Field& f) {
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  const Section s(f, {"max_message", "max_fragments", "max_header", "handshake_timeout",
                      "max_connections", "close_timeout"});
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
  const std::vector<Field> items =
      list_items(f, "a list of backend addresses or {address, weight} maps");
  if (items.empty()) {
    f.fail("expected at least one backend");
  }
  std::vector<Backend> backends;
  for (const Field& item : items) {
    if (++total > kMaxBackendsTotal) {
      item.fail("more than " + std::to_string(kMaxBackendsTotal) +
                " backends in total over all pools");
    }
    const Backend backend = parse_backend(item);
    const auto earlier = std::find_if(backends.begin(), backends.end(), [&](const Backend& b) {
      return b.endpoint == backend.endpoint;
    });
    if (earlier != backends.end()) {
      item.fail(backend.endpoint.to_string() + " is already a backend of this pool, at " +
                f.key + "[" + std::to_string(earlier - backends.begin()) + "]");
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
  const std::string path = read_scalar(f, "a path like /health");
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

bool valid_pool_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPoolName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' ||
                  c == '-';
         });
}

Pool parse_pool(const Entry& entry, size_t& total_backends) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  if (!valid_pool_name(entry.name)) {
    Field{entry.value.file, {}, entry.value.key, entry.key_line}.fail(
        "a pool name must be 1 to 48 characters from A-Z a-z 0-9 _ . -");
  }
  const Section s(entry.value, {"balance", "connect_timeout", "retries", "fail_timeout",
                                "health", "on_backend_loss", "loss_spread", "max_handshake_rate",
                                "slow_start", "reconnect_buffer", "backends"});
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
      Field{entry.value.file, {}, entry.value.key, entry.key_line}.fail(
          "more than " + std::to_string(kMaxPools) + " pools");
    }
    pools.push_back(parse_pool(entry, total_backends));
  }
  return pools;
}

// Paths are prefixes matched against the request target, so a query or
// fragment in one could never match, and whitespace is always a typo.
std::string read_path(const Field& f) {
  const std::string path = read_scalar(f, "a path like /chat");
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

size_t resolve_pool(const Field& f, const std::vector<Pool>& pools) {
  const std::string name = read_scalar(f, "a pool name");
  const auto pool = std::find_if(pools.begin(), pools.end(),
                                 [&](const Pool& p) { return p.name == name; });
  if (pool == pools.end()) {
    f.fail("pool " + quote(name) + " is not defined");
  }
  return static_cast<size_t>(pool - pools.begin());
}

// `seen` maps each path already routed to the index of its route.
Route parse_route(const Field& f, const std::vector<Pool>& pools,
                  std::unordered_map<std::string, size_t>& seen) {
  const Section s(f, {"path", "pool", "origins", "validate_utf8"});
  Route route;
  const Field path = s.require("path");
  route.path = read_path(path);
  const auto [earlier, fresh] = seen.emplace(route.path, seen.size());
  if (!fresh) {
    path.fail(quote(route.path) + " is already routed by routes[" +
              std::to_string(earlier->second) + "]");
  }
  route.pool_index = resolve_pool(s.require("pool"), pools);
  route.pool = pools[route.pool_index].name;
  if (auto v = s.find("origins")) route.origins = read_origins(*v);
  if (auto v = s.find("validate_utf8")) route.validate_utf8 = read_bool(*v);
  return route;
}

std::vector<Route> parse_routes(const Field& f, const std::vector<Pool>& pools) {
  const std::vector<Field> items = list_items(f, "a list of routes like {path: /chat, pool: chat}");
  if (items.empty()) {
    f.fail("expected at least one route");
  }
  std::vector<Route> routes;
  std::unordered_map<std::string, size_t> seen;
  for (const Field& item : items) {
    routes.push_back(parse_route(item, pools, seen));
  }
  return routes;
}

Config parse_document(const Field& root) {
  const Section top(root, {"listen", "workers", "limits", "pools", "routes"});
  Config config;
  config.file = std::string(root.file);
  config.listen = parse_listen(top.require("listen"));
  if (auto v = top.find("workers")) config.workers = parse_workers(*v);
  // "limits:" with every key commented out is a natural edit; treat it as empty.
  if (auto v = top.find("limits"); v && !v->node.IsNull()) config.limits = parse_limits(*v);
  config.pools = parse_pools(top.require("pools"));
  config.routes = parse_routes(top.require("routes"), config.pools);
  return config;
}

// ---------------------------------------------------------------- input

// The one document in the text. YAML::Load would silently ignore a second
// one, so it is refused instead.
YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file, line_of(e.mark), "", e.msg);
  }
  if (documents.empty() || documents.front().IsNull()) {
    throw ConfigError(file, 0, "", "the file is empty; expected listen, pools and routes");
  }
  // A trailing "---" yields an empty document; only one with content counts.
  const auto extra = std::find_if(documents.begin() + 1, documents.end(),
                                  [](const YAML::Node& d) { return !d.IsNull(); });
  if (extra != documents.end()) {
    throw ConfigError(file, line_of(extra->Mark()), "",
                      "expected one YAML document, found another one here");
  }
  return documents.front();
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }  // read-only: nothing to flush
};

// The whole file, or ConfigError with the errno text. fopen() accepts a
// directory; the read that follows fails with EISDIR, which lands here too.
std::string read_file(const std::string& path) {
  const auto fail = [&path](int error) {
    return ConfigError(path, 0, "", "cannot read file: " + std::generic_category().message(error));
  };
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    throw fail(errno);
  }
  std::string text;
  char buffer[64 * 1024];
  size_t n = 0;
  errno = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    throw fail(errno != 0 ? errno : EIO);  // C does not promise that fread sets errno
  }
  return text;
}

}  // namespace

Config load_config_text(const std::string& text, const std::string& file) {
  const YAML::Node root = parse_yaml(text, file);
  return parse_document(Field{file, root, "", line_of(root.Mark())});
}

Config load_config(const std::string& path) { return load_config_text(read_file(path), path); }

}  // namespace wsgate::conf
