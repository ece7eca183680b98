#include "conf/loader_fields.h"

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <memory>
#include <system_error>
#include <unordered_map>

#include "conf/units.h"

namespace wsgate::conf::detail {

namespace {

constexpr size_t kMaxQuoted = 80;  // longer values are cut short in messages

}  // namespace

// ---------------------------------------------------------------- messages

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
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

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

int line_of(const YAML::Mark& mark) { return mark.line < 0 ? 0 : mark.line + 1; }

int value_line(const YAML::Node& value, int key_line) {
  const int line = line_of(value.Mark());
  return value.IsNull() || line == 0 ? key_line : line;
}

std::string join_key(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : parent + "." + std::string(name);
}

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
      Field{map.file, pair.first, key, key_line}.fail("duplicate key; first given on line " +
                                                      std::to_string(earlier->second));
    }
    entries.push_back(Entry{name, key_line, map.child(pair.second, key, key_line)});
  }
  return entries;
}

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

namespace {

std::string list_names(std::initializer_list<std::string_view> names) {
  std::string out;
  for (const std::string_view name : names) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

}  // namespace

Section::Section(const Field& map, std::initializer_list<std::string_view> known)
    : map_(map), entries_(map_entries(map)) {
  for (const Entry& entry : entries_) {
    if (std::find(known.begin(), known.end(), entry.name) == known.end()) {
      Field{map_.file, {}, join_key(map_.key, entry.name), entry.key_line}.fail("unknown key; expected one of " +
                                                                                list_names(known));
    }
  }
}

std::optional<Field> Section::find(std::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.name == name) {
      return entry.value;
    }
  }
  return std::nullopt;
}

Field Section::require(std::string_view name) const {
  auto field = find(name);
  if (!field) {
    Field{map_.file, {}, join_key(map_.key, name), map_.line}.fail("required key is missing");
  }
  return *field;
}

// ---------------------------------------------------------------- scalars

std::string read_scalar(const Field& f, const std::string& expected) {
  if (!f.node.IsScalar()) {
    f.fail("expected " + expected + ", got " + describe(f.node));
  }
  return f.node.Scalar();
}

std::optional<int64_t> int_in_range(const std::string& text, int64_t lo, int64_t hi) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || rest != end || value < lo || value > hi) {
    return std::nullopt;
  }
  return value;
}

uint64_t read_size(const Field& f, uint64_t lo, uint64_t hi) {
  const std::string expected = "a size like 16KiB";
  const std::string text = read_scalar(f, expected);
  const auto size = parse_size(text);
  if (!size) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  if (*size < lo || *size > hi) {
    f.fail("expected a size from " + format_size(lo) + " to " + format_size(hi) + ", got " + quote(text));
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
    f.fail("expected a duration from " + format_duration(lo) + " to " + format_duration(hi) + ", got " + quote(text));
  }
  return *duration;
}

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

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

// ---------------------------------------------------------------- files

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }  // read-only: nothing to flush
};

}  // namespace

std::optional<std::string> read_whole_file(const std::string& path, int* error) {
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    *error = errno;
    return std::nullopt;
  }
  std::string text;
  char buffer[64 * 1024];
  size_t n = 0;
  errno = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    text.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    *error = errno != 0 ? errno : EIO;  // C does not promise that fread sets errno
    return std::nullopt;
  }
  return text;
}

// Relative to the directory of the config file, so that a config and the
// files it names can move together.
std::string resolve_path(std::string_view config_file, const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(config_file).parent_path();
  if (std::filesystem::path(path).is_absolute() || dir.empty()) {
    return path;
  }
  return (dir / path).string();
}

}  // namespace wsgate::conf::detail
