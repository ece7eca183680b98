// The `auth:` section: named sets of API keys a route may demand,
// each read from its keys file at load time. No message here ever shows a
// key: a config error ends up in logs and on terminals.
#include <algorithm>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr size_t kMaxAuths = 32;
constexpr size_t kMaxKeyLength = 256;
constexpr size_t kMaxFieldName = 64;

AuthFrom read_auth_from(const Field& f) {
  const std::string text = read_scalar(f, "header, query, first_message or client_cert");
  if (text == "header") return AuthFrom::header;
  if (text == "query") return AuthFrom::query;
  if (text == "first_message") return AuthFrom::first_message;
  if (text == "client_cert") return AuthFrom::client_cert;
  f.fail("expected header, query, first_message or client_cert, got " + quote(text));
}

// A query parameter name or a JSON field name: printable ASCII, no spaces,
// and for a query nothing that would split or end the parameter.
std::string read_auth_field(const Field& f, AuthFrom from) {
  std::string field = read_scalar(f, "a field name like key");
  const bool printable = std::all_of(field.begin(), field.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (field.empty() || field.size() > kMaxFieldName || !printable) {
    f.fail("expected 1 to " + std::to_string(kMaxFieldName) + " printable ASCII characters without spaces, got " +
           quote(field));
  }
  if (from == AuthFrom::query && field.find_first_of("&=#?") != std::string::npos) {
    f.fail("a query parameter name cannot contain '&', '=', '#' or '?', got " + quote(field));
  }
  return field;
}

std::string_view trim(std::string_view line) {
  constexpr std::string_view kSpace = " \t\r\v\f";
  const size_t first = line.find_first_not_of(kSpace);
  if (first == std::string_view::npos) {
    return {};
  }
  return line.substr(first, line.find_last_not_of(kSpace) - first + 1);
}

// One key per line, trimmed; blank lines and lines starting with '#' are
// skipped, and a repeated key is kept once. Errors blame `f` (the keys_file
// entry) and name the line of the keys file, never its text.
std::vector<std::string> read_keys(const Field& f, const std::string& path) {
  int error = 0;
  const auto text = read_whole_file(path, &error);
  if (!text) {
    f.fail("cannot read keys file " + path + ": " + std::generic_category().message(error));
  }
  std::vector<std::string> keys;
  std::unordered_set<std::string_view> seen;  // views into *text
  size_t line_number = 0;
  for (size_t pos = 0; pos < text->size();) {
    const size_t end = std::min(text->find('\n', pos), text->size());
    const std::string_view key = trim(std::string_view(*text).substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    if (key.empty() || key.front() == '#') {
      continue;
    }
    const auto bad = [&](const std::string& why) { f.fail(path + ":" + std::to_string(line_number) + ": " + why); };
    if (key.size() > kMaxKeyLength) {
      bad("a key may be at most " + std::to_string(kMaxKeyLength) + " bytes");
    }
    if (key.find_first_of(" \t") != std::string_view::npos) {
      bad("a key may not contain spaces");
    }
    if (!std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      bad("a key must be printable ASCII");
    }
    if (seen.insert(key).second) {
      keys.emplace_back(key);
    }
  }
  if (keys.empty()) {
    f.fail("keys file " + path +
           " has no keys; expected one per line (blank lines and lines starting with '#' are "
           "skipped)");
  }
  return keys;
}

Auth parse_auth(const Entry& entry) {
  if (!valid_name(entry.name)) {
    entry.fail("an auth name must be 1 to 48 characters from A-Z a-z 0-9 _ . -");
  }
  const Section s(entry.value, {"keys_file", "from", "field", "timeout"});
  Auth auth;
  auth.name = entry.name;
  if (auto v = s.find("from")) auth.from = read_auth_from(*v);
  if (auto v = s.find("field")) {
    if (auth.from == AuthFrom::header || auth.from == AuthFrom::client_cert) {
      v->fail("field applies only to from: query and from: first_message");
    }
    auth.field = read_auth_field(*v, auth.from);
  }
  if (auto v = s.find("timeout")) auth.timeout = read_duration(*v, milliseconds(100), minutes(10));
  const Field keys_file = s.require("keys_file");
  auth.keys_file = read_scalar(keys_file, "a path like /etc/wsgate/fx.keys");
  if (auth.keys_file.empty()) {
    keys_file.fail("expected a path like /etc/wsgate/fx.keys, got \"\"");
  }
  auth.keys = read_keys(keys_file, resolve_path(keys_file.file, auth.keys_file));
  return auth;
}

}  // namespace

// "auth:" with every block commented out is a natural edit: no auth blocks.
std::vector<Auth> parse_auths(const Field& f) {
  if (f.node.IsNull()) {
    return {};
  }
  std::vector<Auth> auths;
  for (const Entry& entry : map_entries(f)) {
    if (auths.size() == kMaxAuths) {
      entry.fail("more than " + std::to_string(kMaxAuths) + " auth blocks");
    }
    auths.push_back(parse_auth(entry));
  }
  return auths;
}

}  // namespace wsgate::conf::detail
