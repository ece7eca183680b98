// The loader's building blocks, shared by its source files (loader.cpp,
// stream_loader.cpp, auth_loader.cpp) and by nothing else: a YAML value
// together with what is needed to blame it, maps with a fixed set of keys,
// and readers of scalars with ranges. Every error is a ConfigError.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "conf/loader.h"

namespace wsgate::conf::detail {

// ---------------------------------------------------------------- messages

// A value as messages show it: in double quotes, control bytes escaped, and
// cut short so that a stray megabyte of text does not become the error.
std::string quote(std::string_view text);

// A node as messages show it: a quoted scalar, "a list", "a map" or "nothing".
std::string describe(const YAML::Node& node);

// "16KiB", not "16384": the reader wrote the limits in units.
std::string format_size(uint64_t bytes);
std::string format_duration(Duration d);

// ---------------------------------------------------------------- fields

// yaml-cpp marks are 0-based, and -1 when a node has no position.
int line_of(const YAML::Mark& mark);

// An empty value ("key:") is marked at the token after it, often on the next
// line, so blame the line of its key instead.
int value_line(const YAML::Node& value, int key_line);

std::string join_key(const std::string& parent, std::string_view name);

// A value in the document together with what is needed to blame it: the
// file, the dotted key leading to it and its line.
struct Field {
  std::string_view file;
  YAML::Node node;
  std::string key;  // "" for the document itself
  int line = 0;     // 1-based

  [[noreturn]] void fail(const std::string& why) const { throw ConfigError(std::string(file), line, key, why); }

  Field child(const YAML::Node& value, std::string child_key, int key_line) const {
    return Field{file, value, std::move(child_key), value_line(value, key_line)};
  }
};

struct Entry {
  std::string name;
  int key_line;
  Field value;

  // Blames the name itself (a bad pool name, one pool too many).
  [[noreturn]] void fail(const std::string& why) const { Field{value.file, {}, value.key, key_line}.fail(why); }
};

// The key/value pairs of a map, in document order. Keys must be plain
// strings and appear once: yaml-cpp would silently keep the first of two.
std::vector<Entry> map_entries(const Field& map);

// The items of a list, named key[0], key[1], ...
std::vector<Field> list_items(const Field& list, const std::string& expected);

// A map with a fixed set of keys, every one of them optional until asked
// for with require(). Unknown keys are refused up front: a misspelt key
// silently left at its default is the worst kind of config bug.
class Section {
 public:
  Section(const Field& map, std::initializer_list<std::string_view> known);

  std::optional<Field> find(std::string_view name) const;

  // A missing key has no line of its own: blame the map that lacks it.
  Field require(std::string_view name) const;

 private:
  Field map_;
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------- scalars

std::string read_scalar(const Field& f, const std::string& expected);

// Decimal digits with an optional '-', nothing else ("+1", "0x10", "1.0" and
// " 1" are refused), within [lo, hi].
std::optional<int64_t> int_in_range(const std::string& text, int64_t lo, int64_t hi);

template <typename T>
T read_int(const Field& f, T lo, T hi) {
  const std::string expected = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  const std::string text = read_scalar(f, expected);
  const auto value = int_in_range(text, static_cast<int64_t>(lo), static_cast<int64_t>(hi));
  if (!value) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  return static_cast<T>(*value);
}

uint64_t read_size(const Field& f, uint64_t lo, uint64_t hi);
Duration read_duration(const Field& f, Duration lo, Duration hi);

// Only the YAML 1.2 spellings: yaml-cpp would also take "yes", "on" and "y".
bool read_bool(const Field& f);

Endpoint read_endpoint(const Field& f);

bool has_space_or_control(std::string_view text);

// Pool, stream and auth names: 1 to kMaxName characters from A-Z a-z 0-9 _ . -
inline constexpr size_t kMaxName = 48;
bool valid_name(std::string_view name);

// ---------------------------------------------------------------- files

// The most any file the config names may hold (the config itself, keys
// files): `keys_file: /dev/zero`, or any endless or runaway file, is an error
// after this many bytes, not a read until memory runs out.
inline constexpr uint64_t kMaxFileBytes = 16 * 1024 * 1024;

// The whole file, or nullopt with *why set: the errno text, or that the file
// holds more than `limit` bytes. Every file the config reads comes through
// here. fopen() accepts a directory; the read that follows fails with EISDIR.
std::optional<std::string> read_whole_file(const std::string& path, std::string* why,
                                           uint64_t limit = kMaxFileBytes);

// A path from the config, relative to the config file's directory.
std::string resolve_path(std::string_view config_file, const std::string& path);

// ---------------------------------------------------------------- sections

// `protocols: [TLSv1.2, TLSv1.3]` of a TLS listener or an upstream
// (listen_loader.cpp): at least one; older versions are errors that say so.
void read_tls_protocols(const Field& f, bool& tls12, bool& tls13);

// `listen:` (listen_loader.cpp): plain addresses and TLS listeners.
std::vector<Listen> parse_listen(const Field& f);

// `streams:` (stream_loader.cpp): empty when the key is empty.
std::vector<Stream> parse_streams(const Field& f);

// `auth:` (auth_loader.cpp): reads every keys file. Relative keys_file
// paths resolve against the directory of f.file.
std::vector<Auth> parse_auths(const Field& f);

// `admin:` and `log:` (observability_loader.cpp). Relative log paths resolve
// against the directory of f.file.
Endpoint parse_admin(const Field& f);
Logs parse_logs(const Field& f);

// `user:` and `group:` (run_as_loader.cpp), looked up in the user and group
// databases; nullopt when neither key is present.
std::optional<RunAs> parse_run_as(const std::optional<Field>& user, const std::optional<Field>& group);

// What every upstream connection may carry (upstream_loader.cpp): `tls:`
// (reads its files) and `headers:` (${ENV} expanded by `expand`).
UpstreamTls parse_upstream_tls(const Field& f);
std::vector<std::pair<std::string, std::string>> parse_upgrade_headers(
    const Field& f, const std::function<std::string(const Field&, const std::string&)>& expand);

}  // namespace wsgate::conf::detail
