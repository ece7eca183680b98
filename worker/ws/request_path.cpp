#include "worker/ws/request_path.h"

#include <array>

namespace wsgate::worker {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// RFC 3986 pchar without pct-encoded, plus '/'.
bool allowed_raw(unsigned char c) {
  if (is_unreserved(c)) return true;
  return std::string_view("!$&'()*+,;=:@/").find(static_cast<char>(c)) != std::string_view::npos;
}

constexpr std::array<char, 16> kHex{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};

std::string describe_byte(unsigned char c) { return std::string("0x") + kHex[c >> 4] + kHex[c & 15]; }

std::optional<std::string> refuse(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text);
  return std::nullopt;
}

// Decodes what RFC 3986 section 6.2.2.2 lets a normaliser decode, checks
// every other byte, and merges runs of '/'.
std::optional<std::string> decode_unreserved(std::string_view raw, std::string* why) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      const int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
      const int lo = i + 2 < raw.size() ? hex_value(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return refuse(why, "malformed percent-encoding in the request path");
      }
      const auto b = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
      if (b == '/' || b == '\\') {
        return refuse(why, "an encoded '/' or '\\' (%2F, %5C) in the request path is refused");
      }
      if (is_unreserved(b)) {
        out.push_back(static_cast<char>(b));
      } else {
        out.push_back('%');
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
      }
      continue;
    }
    if (!allowed_raw(c)) {
      return refuse(why, "byte " + describe_byte(c) + " must be percent-encoded in the request path");
    }
    if (c == '/' && !out.empty() && out.back() == '/') {
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

}  // namespace

std::string remove_dot_segments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  // Drops the last segment of `out` and the '/' before it (step 2C).
  auto drop_last = [&out] {
    const size_t slash = out.rfind('/');
    out.resize(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);  // A
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);  // A
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);  // B: "/./" -> "/"
    } else if (in == "/.") {
      in = "/";  // B
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);  // C: "/../" -> "/"
      drop_last();
    } else if (in == "/..") {
      in = "/";  // C
      drop_last();
    } else if (in == "." || in == "..") {
      in = {};  // D
    } else {
      // E: the first segment, with its leading '/', moves to the output.
      const size_t end = in.find('/', in.front() == '/' ? 1 : 0);
      const size_t n = end == std::string_view::npos ? in.size() : end;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

// Most paths are already normal ("/chat/room1"): one scan, no copy.
bool is_normalized_path(std::string_view raw) {
  if (raw.empty() || raw.front() != '/') {
    return false;
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%' || !allowed_raw(c)) {
      return false;
    }
    // "//", or a segment starting with '.' (maybe "." or ".."): the long way.
    if (c == '/' && i + 1 < raw.size() && (raw[i + 1] == '/' || raw[i + 1] == '.')) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> normalize_request_path(std::string_view raw, std::string* why) {
  if (raw.empty() || raw.front() != '/') {
    return refuse(why, "the request path must start with '/'");
  }
  std::optional<std::string> decoded = decode_unreserved(raw, why);
  if (!decoded) {
    return std::nullopt;
  }
  std::string out = remove_dot_segments(*decoded);
  if (out.empty()) {
    out = "/";
  }
  return out;
}

std::optional<std::string> channel_upstream_target(std::string_view source_target, std::string_view channel_path) {
  std::optional<std::string> channel = normalize_request_path(channel_path, nullptr);
  if (!channel || *channel != channel_path) {
    return std::nullopt;  // only a path wsgate normalised itself becomes a channel
  }
  const size_t q = source_target.find('?');
  std::string_view base = source_target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view() : source_target.substr(q);
  if (!base.empty() && base.back() == '/') {
    base.remove_suffix(1);  // "ws://core/fx/" + "/EURUSD": no doubled slash
  }
  std::string joined = std::string(base) + *channel;
  // The source path is the operator's and kept as written; what the channel
  // adds must not climb out of it, even if the source spells dot segments.
  std::optional<std::string> resolved = normalize_request_path(joined, nullptr);
  std::optional<std::string> resolved_base = normalize_request_path(base.empty() ? "/" : base, nullptr);
  if (!resolved || !resolved_base) {
    return std::nullopt;
  }
  std::string prefix = *resolved_base;
  if (prefix.back() != '/') prefix.push_back('/');
  if (*resolved != *resolved_base && !resolved->starts_with(prefix)) {
    return std::nullopt;
  }
  return joined + std::string(query);
}

}  // namespace wsgate::worker
