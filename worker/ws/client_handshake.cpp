#include "worker/ws/client_handshake.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "worker/ws/ws_key.h"

namespace wsgate::worker {

namespace {

namespace http = boost::beast::http;
using Parser = http::request_parser<http::empty_body>;
using Message = http::request<http::empty_body>;
using Check = std::optional<HttpError> (*)(const Parser&);

// ---- small text helpers ---------------------------------------------------

[[noreturn]] void internal_error(const char* what) {
  std::fprintf(stderr, "wsgate: internal error in the client handshake: %s\n", what);
  std::abort();
}

// Boost 1.74's beast::string_view is boost::string_view, not std::string_view.
std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }
boost::beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) { return boost::beast::iequals(bsv(a), bsv(b)); }

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Calls `f` with every non-empty, OWS-trimmed element of a comma-separated
// header value (RFC 9110 section 5.6.1: empty elements are ignored).
void for_each_list_element(std::string_view list, const std::function<void(std::string_view)>& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto element = trim_ows(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// RFC 9110 section 5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// True when any line of header `name` lists `token` (ASCII case-insensitive),
// so "Connection: keep-alive, Upgrade" has the token "upgrade".
bool header_has_token(const Message& msg, http::field name, std::string_view token) {
  bool found = false;
  const auto [first, last] = msg.equal_range(name);
  for (auto it = first; it != last && !found; ++it) {
    for_each_list_element(sv(it->value()), [&](std::string_view element) {
      if (iequals(element, token)) found = true;
    });
  }
  return found;
}

// All values of header `name` joined by ", " (RFC 9110 section 5.3).
std::string joined_values(const Message& msg, std::string_view name) {
  std::string out;
  const auto [first, last] = msg.equal_range(bsv(name));
  for (auto it = first; it != last; ++it) {
    if (!out.empty()) out += ", ";
    out.append(sv(it->value()));
  }
  return out;
}

HttpError bad_request(std::string why) { return HttpError{400, std::move(why), {}}; }

// Subprotocols from every Sec-WebSocket-Protocol line, in order; nullopt when
// one of them is not a token (it could not be echoed back safely).
std::optional<std::vector<std::string>> offered_protocols(const Message& msg) {
  std::vector<std::string> out;
  bool all_tokens = true;
  const auto [first, last] = msg.equal_range(http::field::sec_websocket_protocol);
  for (auto it = first; it != last; ++it) {
    for_each_list_element(sv(it->value()), [&](std::string_view element) {
      if (!is_token(element)) all_tokens = false;
      out.emplace_back(element);
    });
  }
  if (!all_tokens) return std::nullopt;
  return out;
}

// ---- validation, one rule each, applied in the order of kChecks -----------

std::optional<HttpError> check_method(const Parser& p) {
  // method_string() is a token (Beast checked it), so it is safe to log.
  if (p.get().method_string() == "GET") return std::nullopt;
  return bad_request("method must be GET for a WebSocket upgrade, got " + std::string(p.get().method_string()));
}

std::optional<HttpError> check_version(const Parser& p) {
  if (p.get().version() == 11) return std::nullopt;
  return bad_request("HTTP version must be 1.1 for a WebSocket upgrade");
}

std::optional<HttpError> check_origin_form_target(const Parser& p) {
  // The target is forwarded upstream verbatim and routed by path: only a
  // path ("origin-form", RFC 9112 section 3.2.1) makes sense for either.
  const auto target = p.get().target();
  if (!target.empty() && target.front() == '/') return std::nullopt;
  return bad_request("request target must be a path starting with '/'");
}

std::optional<HttpError> check_no_body(const Parser& p) {
  // RFC 6455 section 4.1: the upgrade is a GET without a body. Bytes after
  // the header are frames (H9); a body would be smuggled into them.
  if (p.get().count(http::field::transfer_encoding) > 0)
    return bad_request("upgrade request must not have a body (Transfer-Encoding present)");
  const auto length = p.content_length();
  if (length && *length != 0) return bad_request("upgrade request must not have a body (Content-Length is not 0)");
  return std::nullopt;
}

std::optional<HttpError> check_host_present(const Parser& p) {
  if (p.get().count(http::field::host) > 0) return std::nullopt;
  return bad_request("missing Host header");
}

std::optional<HttpError> check_upgrade_token(const Parser& p) {
  if (header_has_token(p.get(), http::field::upgrade, "websocket")) return std::nullopt;
  return bad_request("Upgrade header must contain the token websocket");
}

std::optional<HttpError> check_connection_token(const Parser& p) {
  if (header_has_token(p.get(), http::field::connection, "upgrade")) return std::nullopt;
  return bad_request("Connection header must contain the token upgrade");
}

std::optional<HttpError> check_ws_version(const Parser& p) {
  // Exactly one line with exactly "13": "013", "8" and "13, 8" all fail.
  const auto& msg = p.get();
  if (msg.count(http::field::sec_websocket_version) == 1 && msg[http::field::sec_websocket_version] == "13")
    return std::nullopt;
  return HttpError{426, "Sec-WebSocket-Version must be 13", {{"Sec-WebSocket-Version", "13"}}};
}

std::optional<HttpError> check_ws_key(const Parser& p) {
  const auto [first, last] = p.get().equal_range(http::field::sec_websocket_key);
  if (first == last) return bad_request("missing Sec-WebSocket-Key header");
  for (auto it = first; it != last; ++it) {
    if (!is_valid_ws_key(sv(it->value()))) return bad_request("Sec-WebSocket-Key must be base64 of exactly 16 bytes");
  }
  return std::nullopt;
}

std::optional<HttpError> check_no_duplicates(const Parser& p) {
  // Two copies of a header wsgate decides on (routing by Host, the key it
  // answers for, the Origin it checks) could make wsgate and the backend act
  // on different values.
  static constexpr std::array<std::pair<http::field, const char*>, 3> kSingletons{{
      {http::field::host, "duplicate Host header"},
      {http::field::sec_websocket_key, "duplicate Sec-WebSocket-Key header"},
      {http::field::origin, "duplicate Origin header"},
  }};
  for (const auto& [name, why] : kSingletons) {
    if (p.get().count(name) > 1) return bad_request(why);
  }
  return std::nullopt;
}

std::optional<HttpError> check_protocols(const Parser& p) {
  if (offered_protocols(p.get())) return std::nullopt;
  return bad_request("Sec-WebSocket-Protocol must be a comma-separated list of tokens");
}

constexpr std::array<Check, 11> kChecks{
    check_method,       check_version,       check_origin_form_target, check_no_body,
    check_host_present, check_upgrade_token, check_connection_token,   check_ws_version,
    check_ws_key,       check_no_duplicates, check_protocols,
};

std::optional<HttpError> first_violation(const Parser& p) {
  for (const Check check : kChecks) {
    if (auto error = check(p)) return error;
  }
  return std::nullopt;
}

// ---- building the validated request ---------------------------------------

// Headers that describe this hop or that wsgate writes itself; see the
// forward_headers comment in client_handshake.h.
bool is_never_forwarded(std::string_view name) {
  static constexpr std::array<std::string_view, 17> kNames{
      "Connection",
      "Keep-Alive",
      "Proxy-Connection",
      "TE",
      "Trailer",
      "Transfer-Encoding",
      "Upgrade",
      "Proxy-Authorization",
      "Proxy-Authenticate",
      "HTTP2-Settings",
      "Host",
      "Content-Length",
      "X-Forwarded-For",
      "X-Forwarded-Proto",
      "X-Real-IP",
      "X-Client-Cert-Subject",
      "X-Client-Cert-Sha256",
  };
  if (istarts_with(name, "Sec-WebSocket-")) return true;
  return std::any_of(kNames.begin(), kNames.end(), [&](std::string_view n) { return iequals(n, name); });
}

// RFC 9110 section 7.6.1: every header named in Connection is hop-by-hop too
// (H7: "Connection: Upgrade, X-Secret" must not leak X-Secret upstream).
std::vector<std::string> connection_named_headers(const Message& msg) {
  std::vector<std::string> names;
  const auto [first, last] = msg.equal_range(http::field::connection);
  for (auto it = first; it != last; ++it)
    for_each_list_element(sv(it->value()), [&](std::string_view n) { names.emplace_back(n); });
  return names;
}

HeaderList forward_headers_of(const Message& msg) {
  const auto named = connection_named_headers(msg);
  const auto named_in_connection = [&](std::string_view name) {
    return std::any_of(named.begin(), named.end(), [&](const std::string& n) { return iequals(n, name); });
  };
  HeaderList out;
  for (const auto& field : msg) {
    const std::string_view name = sv(field.name_string());
    if (is_never_forwarded(name) || named_in_connection(name)) continue;
    out.emplace_back(std::string(name), std::string(sv(field.value())));
  }
  return out;
}

ClientRequest client_request_of(const Message& msg) {
  ClientRequest r;
  r.target = std::string(msg.target());
  r.path = r.target.substr(0, r.target.find('?'));
  r.host = std::string(msg[http::field::host]);
  r.origin = std::string(msg[http::field::origin]);
  r.key = std::string(msg[http::field::sec_websocket_key]);
  r.protocols = offered_protocols(msg).value();  // check_protocols passed
  r.x_forwarded_for = joined_values(msg, "X-Forwarded-For");
  r.forward_headers = forward_headers_of(msg);
  return r;
}

}  // namespace

// ---- RequestReader ----------------------------------------------------------

struct RequestReader::Impl {
  explicit Impl(uint64_t limit) : max_header(limit) {
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<uint64_t>(limit, std::numeric_limits<std::uint32_t>::max())));
    // Stop right after the header: what follows is the client's first frames.
    parser.eager(false);
  }

  Status fail(int status, std::string why) {
    error = HttpError{status, std::move(why), {}};
    return state = Status::error;
  }

  Status header_too_large() { return fail(431, "request header over " + std::to_string(max_header) + " bytes"); }

  // Feeds Beast the bytes it has not taken yet. Returns error (with `error`
  // set), or need_more / done according to whether the header is complete.
  Status feed(std::string_view received) {
    while (!parser.is_header_done() && consumed < received.size()) {
      boost::system::error_code ec;
      const size_t n = parser.put(boost::asio::buffer(received.data() + consumed, received.size() - consumed), ec);
      consumed += n;
      if (ec == http::error::need_more) break;
      if (ec == http::error::header_limit) return header_too_large();
      if (ec) return fail(400, "malformed HTTP request: " + ec.message());
      if (n == 0) break;  // no progress without an error: wait for more bytes
    }
    return parser.is_header_done() ? Status::done : Status::need_more;
  }

  Status parse(std::string_view received) {
    if (state != Status::need_more) return state;
    assert(received.size() >= consumed && "parse() must get every byte received so far");
    const Status fed = feed(received);
    if (fed == Status::error) return fed;
    // Beast's header_limit counts from the bytes given to put(); check the
    // whole header block here as well, so the limit stays exact even if a
    // Beast version starts consuming the start line on its own.
    if (fed == Status::need_more) return received.size() >= max_header ? header_too_large() : Status::need_more;
    if (consumed > max_header) return header_too_large();
    if (auto violation = first_violation(parser)) {
      error = std::move(*violation);
      return state = Status::error;
    }
    request = client_request_of(parser.get());
    return state = Status::done;
  }

  uint64_t max_header;
  Parser parser;
  size_t consumed = 0;  // bytes of `received` Beast has taken
  Status state = Status::need_more;
  ClientRequest request;
  HttpError error;
};

RequestReader::RequestReader(uint64_t max_header) : impl_(std::make_unique<Impl>(max_header)) {}
RequestReader::~RequestReader() = default;

RequestReader::Status RequestReader::parse(std::string_view received) { return impl_->parse(received); }

ClientRequest& RequestReader::request() {
  assert(impl_->state == Status::done && "request() is valid only after done");
  return impl_->request;
}

const ClientRequest& RequestReader::request() const {
  assert(impl_->state == Status::done && "request() is valid only after done");
  return impl_->request;
}

size_t RequestReader::header_size() const {
  assert(impl_->state == Status::done && "header_size() is valid only after done");
  return impl_->consumed;
}

const HttpError& RequestReader::error() const {
  assert(impl_->state == Status::error && "error() is valid only after error");
  return impl_->error;
}

// ---- free functions ---------------------------------------------------------

bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin) {
  if (allowed.empty() || origin.empty()) return true;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return iequals(a, origin); });
}

std::string format_switching_protocols(const ClientRequest& req, std::string_view protocol) {
  // `protocol` comes from the backend's 101, already matched against the
  // client's offer (tokens only); anything else would inject headers.
  if (!protocol.empty() && !is_token(protocol))
    internal_error("format_switching_protocols() got a protocol that is not a token");
  std::string out =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      ws_accept_for(req.key) + "\r\n";
  if (!protocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  out += "\r\n";
  return out;
}

}  // namespace wsgate::worker
