// Minimal HTTP/1.1 head parsing shared by the test client (responses) and the
// echo backend (requests), plus the Sec-WebSocket-Accept computation.
// Deliberately lenient: it splits lines and fields and leaves judging them to
// the caller, so tests can look at exactly what a peer sent.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsgate::test {

struct HttpHead {
  std::string raw;                                           // the head as received, up to and including CRLFCRLF
  std::string start_line;                                    // request line or status line, without CRLF
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed

  // First header with this name (case-insensitive), if any.
  std::optional<std::string> get(std::string_view name) const;
  // True if any header `name` holds `token` in its comma-separated list
  // (case-insensitive), e.g. has_token("Connection", "upgrade").
  bool has_token(std::string_view name, std::string_view token) const;
  // Number of headers with this name.
  std::size_t count(std::string_view name) const;
};

// Offset just past the CRLFCRLF that ends the head, or npos if not there yet.
std::size_t find_head_end(std::string_view data);

// Splits a complete head (as found by find_head_end). Lines without a colon
// are kept with an empty value so nothing is silently lost.
HttpHead parse_head(std::string_view raw);

bool iequals(std::string_view a, std::string_view b);

// base64(SHA-1(key + GUID)) as in RFC 6455 4.2.2.
std::string websocket_accept(std::string_view key);

// base64 of arbitrary bytes (for building Sec-WebSocket-Key values).
std::string base64_encode(std::string_view bytes);

}  // namespace wsgate::test
