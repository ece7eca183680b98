#include "tests/support/feed_request.h"

#include <charconv>

#include "tests/support/backend_handshake.h"

namespace wsgate::test {

namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Rejected";
  }
}

struct RequestLine {
  std::string_view method, target;
};

RequestLine split_request_line(std::string_view line) {
  const std::size_t a = line.find(' ');
  const std::size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
  if (b == std::string_view::npos) return {};
  return {line.substr(0, a), line.substr(a + 1, b - a - 1)};
}

FeedRequest respond(int status, const std::string& body, std::string_view name, std::string problem = {}) {
  FeedRequest r;
  r.kind = FeedRequest::Kind::kRespond;
  r.response = http_response(status, "text/plain", body + "\n", name);
  r.problem = std::move(problem);
  return r;
}

std::string switching_protocols(const HttpHead& request, std::string_view name) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  out += "Sec-WebSocket-Accept: " + websocket_accept(request.get("Sec-WebSocket-Key").value_or("")) + "\r\n";
  // The first offered subprotocol, if any, so a client that insists on one
  // still gets a valid answer.
  if (const auto offered = request.get("Sec-WebSocket-Protocol")) {
    std::string_view p = *offered;
    p = p.substr(0, p.find(','));
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (!p.empty()) out += "Sec-WebSocket-Protocol: " + std::string(p) + "\r\n";
  }
  out += "X-Feed-Source: " + std::string(name) + "\r\n\r\n";
  return out;
}

FeedRequest decide_upgrade(const HttpHead& request, const RequestLine& line, std::string_view name) {
  if (const std::string reject = query_param(line.target, "reject"); !reject.empty()) {
    int status = 0;
    const auto [end, ec] = std::from_chars(reject.data(), reject.data() + reject.size(), status);
    if (ec != std::errc() || end != reject.data() + reject.size() || status < 200 || status > 599)
      return respond(400, "bad reject status " + reject, name, "bad reject status " + reject);
    return respond(status, "rejected by feed source " + std::string(name), name);
  }
  if (line.method != "GET")
    return respond(400, "upgrade with method " + std::string(line.method), name,
                   "upgrade with method " + std::string(line.method));
  if (!request.get("Sec-WebSocket-Key")) return respond(400, "no Sec-WebSocket-Key", name, "no Sec-WebSocket-Key");
  FeedRequest r;
  r.kind = FeedRequest::Kind::kUpgrade;
  r.channel = std::string(line.target.substr(0, line.target.find('?')));
  r.response = switching_protocols(request, name);
  return r;
}

}  // namespace

std::string http_response(int status, std::string_view content_type, std::string_view body, std::string_view name) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n";
  out += "X-Feed-Source: " + std::string(name) + "\r\n\r\n";
  out += body;
  return out;
}

FeedRequest decide_feed_request(const HttpHead& request, std::string_view name) {
  const RequestLine line = split_request_line(request.start_line);
  if (line.target.empty()) return respond(400, "bad request line", name, "bad request line");
  if (request.has_token("Upgrade", "websocket")) return decide_upgrade(request, line, name);
  const std::string_view path = line.target.substr(0, line.target.find('?'));
  FeedRequest r;
  if (line.method == "GET" && path == "/_stats") {
    r.kind = FeedRequest::Kind::kStats;
  } else if (line.method == "GET" && path == "/_drop") {
    r.kind = FeedRequest::Kind::kDrop;
    r.response = http_response(200, "text/plain", "dropped\n", name);
  } else {
    return respond(404, "not found: " + std::string(path), name);
  }
  return r;
}

}  // namespace wsgate::test
