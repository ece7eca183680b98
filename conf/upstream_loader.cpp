// What an upstream connection wsgate opens may carry: TLS settings (`tls:`)
// and extra upgrade request headers (`headers:`). Stream sources use them
// today; pool backends are meant to take the same keys.
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

constexpr size_t kMaxHeaders = 32;
constexpr size_t kMaxHeaderValue = 8 * KiB;
constexpr uint64_t kMaxPemFile = 1 * MiB;

std::string read_pem(const Field& f, const std::string& example, std::string* path_out) {
  std::string path = read_scalar(f, "a path like " + example);
  if (path.empty() || path.find('\0') != std::string::npos) {
    f.fail("expected a path like " + example + ", got " + quote(path));
  }
  *path_out = resolve_path(f.file, path);
  std::string why;
  std::optional<std::string> text = read_whole_file(*path_out, &why, kMaxPemFile);
  if (!text) {
    f.fail("cannot read " + quote(*path_out) + ": " + why);
  }
  if (text->size() > kMaxPemFile || text->find("-----BEGIN ") == std::string::npos) {
    f.fail(quote(*path_out) + " is not a PEM file (no -----BEGIN line, or over " + format_size(kMaxPemFile) + ")");
  }
  return *text;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

// Hop-by-hop headers (RFC 9110 7.6.1) and the ones the WebSocket handshake
// itself writes (RFC 6455 4.1): a configured copy would contradict them.
constexpr std::array<std::string_view, 16> kReserved = {
    "Connection",         "Keep-Alive",        "Proxy-Authenticate",       "Proxy-Authorization",
    "Proxy-Connection",   "TE",                "Trailer",                  "Transfer-Encoding",
    "Upgrade",            "Host",              "Content-Length",           "Sec-WebSocket-Key",
    "Sec-WebSocket-Version", "Sec-WebSocket-Accept", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"};

}  // namespace

UpstreamTls parse_upstream_tls(const Field& f) {
  if (!f.node.IsMap()) {
    f.fail("expected a map like { verify: true, ca: ca.pem }, got " + describe(f.node));
  }
  const Section s(f, {"verify", "ca", "server_name", "cert", "key", "protocols"});
  UpstreamTls tls;
  if (auto v = s.find("verify")) tls.verify = read_bool(*v);
  if (auto v = s.find("ca")) tls.ca_pem = read_pem(*v, "vendor-ca.pem", &tls.ca);
  if (auto v = s.find("server_name")) {
    tls.server_name = read_scalar(*v, "a host name like feed.example.com");
    if (tls.server_name.empty() || tls.server_name.size() > 253 || has_space_or_control(tls.server_name)) {
      v->fail("expected a host name like feed.example.com, got " + quote(tls.server_name));
    }
  }
  const auto cert = s.find("cert");
  const auto key = s.find("key");
  if (cert.has_value() != key.has_value()) {
    (cert ? *cert : *key).fail("a client certificate needs both cert and key");
  }
  if (cert) {
    tls.cert_pem = read_pem(*cert, "client.pem", &tls.cert);
    tls.key_pem = read_pem(*key, "client.key", &tls.key);
  }
  if (auto v = s.find("protocols")) read_tls_protocols(*v, tls.tls12, tls.tls13);
  return tls;
}

std::vector<std::pair<std::string, std::string>> parse_upgrade_headers(
    const Field& f, const std::function<std::string(const Field&, const std::string&)>& expand) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (f.node.IsNull()) {
    return headers;
  }
  for (const Entry& entry : map_entries(f)) {
    if (headers.size() == kMaxHeaders) {
      entry.fail("more than " + std::to_string(kMaxHeaders) + " headers");
    }
    if (entry.name.empty() || !std::all_of(entry.name.begin(), entry.name.end(), is_token_char)) {
      entry.fail("a header name is letters, digits and !#$%&'*+-.^_`|~, got " + quote(entry.name));
    }
    for (std::string_view reserved : kReserved) {
      if (iequals(entry.name, reserved)) {
        entry.fail(entry.name + " is written by the WebSocket handshake itself or is hop-by-hop; it cannot be set");
      }
    }
    if (iequals(entry.name, "Origin")) {
      entry.fail("set the Origin header with the stream's origin: key");
    }
    if (!entry.value.node.IsScalar()) {
      entry.value.fail("expected a header value (a string), got " + describe(entry.value.node));
    }
    // Values often hold a secret: no message quotes them.
    const std::string raw = entry.value.node.Scalar();
    if (raw.find_first_of("\r\n") != std::string::npos) {
      entry.value.fail("a header value cannot contain CR or LF (it would split the request)");
    }
    std::string value = expand(entry.value, raw);
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
      entry.value.fail("a header value cannot contain CR, LF or NUL once ${...} is expanded");
    }
    if (value.size() > kMaxHeaderValue) {
      entry.value.fail("a header value may be at most " + format_size(kMaxHeaderValue));
    }
    const auto earlier = std::find_if(headers.begin(), headers.end(),
                                      [&](const auto& h) { return iequals(h.first, entry.name); });
    if (earlier != headers.end()) {
      entry.fail("header " + entry.name + " is given twice");
    }
    headers.emplace_back(entry.name, std::move(value));
  }
  return headers;
}

}  // namespace wsgate::conf::detail
