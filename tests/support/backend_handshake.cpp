#include "tests/support/backend_handshake.h"

#include <charconv>
#include <optional>
#include <string_view>

namespace wsgate::test {

namespace {

std::string http_error(int status, std::string_view reason, std::string_view extra_headers, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: text/plain\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

HandshakeDecision reject(int status, std::string_view reason, std::string_view extra, std::string_view body,
                         std::string problem = {}) {
  HandshakeDecision d;
  d.action = HandshakeDecision::Action::kReject;
  d.response = http_error(status, reason, extra, body);
  d.problem = std::move(problem);
  return d;
}

// The first token of the first Sec-WebSocket-Protocol header: "we choose the
// first one" keeps tests predictable.
std::string first_protocol(const HttpHead& request) {
  const auto offered = request.get("Sec-WebSocket-Protocol");
  if (!offered) return {};
  std::string_view v = *offered;
  v = v.substr(0, v.find(','));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

struct TargetParts {
  std::string method, target, version;
};

TargetParts split_request_line(std::string_view line) {
  TargetParts p;
  const std::size_t a = line.find(' ');
  const std::size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
  if (b == std::string_view::npos) return p;
  p.method = std::string(line.substr(0, a));
  p.target = std::string(line.substr(a + 1, b - a - 1));
  p.version = std::string(line.substr(b + 1));
  return p;
}

std::string switching_protocols(const HttpHead& request, std::string_view mode, std::string_view name) {
  const std::string key = request.get("Sec-WebSocket-Key").value_or("");
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
  if (mode != "no-upgrade") out += "Upgrade: websocket\r\n";
  out += "Connection: Upgrade\r\n";
  const std::string accept = websocket_accept(mode == "bad-accept" ? key + "wrong" : key);
  out += "Sec-WebSocket-Accept: " + accept + "\r\n";
  const std::string protocol = mode == "unoffered-protocol" ? "bogus" : first_protocol(request);
  if (!protocol.empty()) out += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
  if (mode == "extension") out += "Sec-WebSocket-Extensions: permessage-deflate\r\n";
  out += "X-Backend: " + std::string(name) + "\r\n\r\n";
  return out;
}

// Returns the problem with the request, or "" when it is a valid upgrade.
std::string upgrade_problem(const TargetParts& line, const HttpHead& request) {
  if (line.method != "GET") return "method is not GET: \"" + line.method + "\"";
  if (!request.has_token("Upgrade", "websocket")) return "no websocket token in Upgrade";
  if (!request.get("Sec-WebSocket-Key")) return "no Sec-WebSocket-Key";
  return {};
}

std::optional<std::uint32_t> parse_ms(std::string_view s) {
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

HandshakeDecision status_mode(std::string_view mode, std::string_view name) {
  const std::string n(name);
  if (mode == "status-403") return reject(403, "Forbidden", "", "forbidden by backend " + n);
  if (mode == "status-426")
    return reject(426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n", "upgrade required by backend " + n);
  if (mode == "status-200") return reject(200, "OK", "", "ok from backend " + n);
  return reject(503, "Service Unavailable", "Retry-After: 7\r\n", "unavailable from backend " + n);
}

}  // namespace

std::string query_param(std::string_view target, std::string_view key) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == pair.npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::string head_too_large_response(std::string_view backend_name) {
  return http_error(431, "Request Header Fields Too Large", "",
                    "request head over 16384 bytes at backend " + std::string(backend_name));
}

HandshakeDecision decide_handshake(const HttpHead& request, std::string_view name) {
  const TargetParts line = split_request_line(request.start_line);
  const std::string mode = query_param(line.target, "mode");
  if (mode == "status-403" || mode == "status-426" || mode == "status-200" || mode == "status-503")
    return status_mode(mode, name);
  if (std::string problem = upgrade_problem(line, request); !problem.empty())
    return reject(400, "Bad Request", "", "bad request: " + problem, problem);

  HandshakeDecision d;
  d.action = HandshakeDecision::Action::kUpgrade;
  if (mode == "hang") {
    d.action = HandshakeDecision::Action::kHang;
    return d;
  }
  if (mode.starts_with("slow-")) {
    const auto ms = parse_ms(std::string_view(mode).substr(5));
    if (!ms) return reject(400, "Bad Request", "", "bad request: bad slow mode", "bad slow mode");
    d.delay_ms = *ms;
  } else if (!mode.empty() && mode != "bad-accept" && mode != "no-upgrade" && mode != "extension" &&
             mode != "unoffered-protocol") {
    return reject(400, "Bad Request", "", "bad request: unknown mode " + mode, "unknown mode " + mode);
  }
  d.allow_rsv1 = mode == "extension";
  d.response = switching_protocols(request, mode, name);
  return d;
}

}  // namespace wsgate::test
