// A TCP endpoint written as "host:port" or "[v6]:port".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsgate::conf {

struct Endpoint {
  std::string host;  // numeric IPv4 or IPv6 literal, without brackets
  uint16_t port = 0;
  bool ipv6 = false;

  // "127.0.0.1:9001" or "[::1]:9001": the canonical form used in logs and shm.
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (localhost -> 127.0.0.1).
// Only numeric addresses are accepted otherwise: a proxy must not block on DNS.
// On failure returns nullopt and sets *why to a short reason.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why);

}  // namespace wsgate::conf
