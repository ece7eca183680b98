#include "tests/support/http_head.h"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/detail/sha1.hpp>

#include <cctype>

namespace wsgate::test {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool list_has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::optional<std::string> HttpHead::get(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

bool HttpHead::has_token(std::string_view name, std::string_view token) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name) && list_has_token(v, token)) return true;
  }
  return false;
}

std::size_t HttpHead::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : headers) n += iequals(k, name) ? 1 : 0;
  return n;
}

std::size_t find_head_end(std::string_view data) {
  const std::size_t pos = data.find("\r\n\r\n");
  return pos == std::string_view::npos ? pos : pos + 4;
}

HttpHead parse_head(std::string_view raw) {
  HttpHead head;
  head.raw = std::string(raw);
  std::string_view rest = raw;
  bool first = true;
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (first) {
      head.start_line = std::string(line);
      first = false;
      continue;
    }
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      head.headers.emplace_back(std::string(line), std::string());
    } else {
      head.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
    }
  }
  return head;
}

std::string base64_encode(std::string_view bytes) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::encoded_size(bytes.size()), '\0');
  out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
  return out;
}

std::string websocket_accept(std::string_view key) {
  namespace bd = boost::beast::detail;
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  bd::sha1_context ctx;
  bd::init(ctx);
  bd::update(ctx, key.data(), key.size());
  bd::update(ctx, kGuid.data(), kGuid.size());
  char digest[bd::sha1_context::digest_size];
  bd::finish(ctx, digest);
  return base64_encode(std::string_view(digest, sizeof digest));
}

}  // namespace wsgate::test
