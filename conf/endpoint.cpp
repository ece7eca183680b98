#include "conf/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <system_error>

namespace wsgate::conf {

namespace {

constexpr std::string_view kLocalhost = "localhost";

bool fail(std::string* why, const char* reason) {
  if (why != nullptr) {
    *why = reason;
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

// Digits only, 1..65535: port 0 would mean "any port" to bind() and nothing
// useful to connect().
bool parse_port(std::string_view text, uint16_t* port, std::string* why) {
  if (text.empty()) {
    return fail(why, "missing port after ':'");
  }
  unsigned value = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || rest != end || value == 0 || value > 65535) {
    return fail(why, "port must be a number from 1 to 65535");
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

// The literal as inet_ntop writes it, so that "::0:1" and "::1" compare equal
// and logs and shm always show one spelling. Empty if inet_pton refuses it.
std::string canonical_address(int family, std::string_view host) {
  const std::string text(host);  // inet_pton wants a NUL-terminated string
  unsigned char binary[sizeof(in6_addr)];
  if (inet_pton(family, text.c_str(), binary) != 1) {
    return {};
  }
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(family, binary, out, sizeof out) == nullptr) {
    return {};
  }
  return out;
}

// "[v6]:port"
bool parse_bracketed(std::string_view text, Endpoint* out, std::string* why) {
  const size_t close = text.find(']');
  if (close == std::string_view::npos) {
    return fail(why, "missing ']' after the IPv6 address");
  }
  const std::string_view rest = text.substr(close + 1);
  if (rest.empty() || rest.front() != ':') {
    return fail(why, "missing ':port' after the IPv6 address");
  }
  out->host = canonical_address(AF_INET6, text.substr(1, close - 1));
  if (out->host.empty()) {
    return fail(why, "not a valid IPv6 address");
  }
  out->ipv6 = true;
  return parse_port(rest.substr(1), &out->port, why);
}

// "a.b.c.d:port" or "localhost:port"
bool parse_plain(std::string_view text, Endpoint* out, std::string* why) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(why, "missing port (expected host:port)");
  }
  const std::string_view host = text.substr(0, colon);
  if (host.empty()) {
    return fail(why, "missing host before ':'");
  }
  if (host.find(':') != std::string_view::npos) {
    return fail(why, "an IPv6 address must be in brackets, like [::1]:8080");
  }
  out->host = iequals(host, kLocalhost) ? "127.0.0.1" : canonical_address(AF_INET, host);
  if (out->host.empty()) {
    const bool looks_like_name =
        std::any_of(host.begin(), host.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
    return fail(why, looks_like_name ? "host names are not resolved; use a numeric address or localhost"
                                     : "not a valid IPv4 address");
  }
  out->ipv6 = false;
  return parse_port(text.substr(colon + 1), &out->port, why);
}

}  // namespace

std::string Endpoint::to_string() const {
  const std::string port_text = std::to_string(port);
  return ipv6 ? "[" + host + "]:" + port_text : host + ":" + port_text;
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why) {
  if (text.empty()) {
    fail(why, "empty address");
    return std::nullopt;
  }
  Endpoint endpoint;
  const bool ok = text.front() == '[' ? parse_bracketed(text, &endpoint, why) : parse_plain(text, &endpoint, why);
  if (!ok) {
    return std::nullopt;
  }
  return endpoint;
}

}  // namespace wsgate::conf
