#include "worker/ws/upstream_handshake.h"

#include <array>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>

#include "worker/ws/http_error.h"
#include "worker/ws/ws_key.h"

namespace wsgate::worker {

namespace {

namespace http = boost::beast::http;
using Parser = http::response_parser<http::string_body>;
using Message = http::response<http::string_body>;

// A non-101 answer is read whole so it can be passed on (B1); bound it so a
// backend cannot make a worker buffer without limit. Beast's default header
// limit (8 KiB) is too small for some cookie-heavy login redirects.
constexpr std::uint64_t kMaxResponseBody = 64 * 1024;
constexpr std::uint32_t kMaxResponseHeader = 16 * 1024;

// Backend headers a client may need to act on a refusal (retry later,
// authenticate, follow a redirect, pick another WebSocket version).
constexpr std::array<http::field, 7> kPassedThroughHeaders{
    http::field::content_type, http::field::retry_after,           http::field::www_authenticate, http::field::location,
    http::field::set_cookie,   http::field::sec_websocket_version, http::field::cache_control,
};

// Boost 1.74's beast::string_view is boost::string_view, not std::string_view.
std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }
boost::beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

// ---- writing headers ----------------------------------------------------------

// Every value written upstream or to the client came through Beast's parser,
// which rejects CR and LF (and joins obs-folds with spaces), or from wsgate
// itself. A CR/LF here would be a header injection: fail loudly in every build.
void require_no_crlf(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    std::fprintf(stderr, "wsgate: internal error: CR/LF in an HTTP header line: \"%.*s\"\n",
                 static_cast<int>(text.size()), text.data());
    std::abort();
  }
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  require_no_crlf(name);
  require_no_crlf(value);
  out.append(name).append(": ").append(value).append("\r\n");
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// ---- judging a 101 (B2, B3) ---------------------------------------------------

// True when any line of header `name` lists `token` (ASCII case-insensitive).
bool header_has_token(const Message& msg, http::field name, std::string_view token) {
  const auto [first, last] = msg.equal_range(name);
  for (auto it = first; it != last; ++it) {
    if (http::token_list{it->value()}.exists(bsv(token))) return true;
  }
  return false;
}

using Why = std::optional<std::string>;  // set when the 101 is invalid

Why check_upgrade_websocket(const Message& msg) {
  if (header_has_token(msg, http::field::upgrade, "websocket")) return std::nullopt;
  return "backend 101 lacks Upgrade: websocket";
}

Why check_connection_upgrade(const Message& msg) {
  if (header_has_token(msg, http::field::connection, "upgrade")) return std::nullopt;
  return "backend 101 lacks Connection: upgrade";
}

Why check_accept(const Message& msg, std::string_view sent_key) {
  if (msg.count(http::field::sec_websocket_accept) != 1)
    return "backend 101 must carry exactly one Sec-WebSocket-Accept";
  if (msg[http::field::sec_websocket_accept] != ws_accept_for(sent_key))
    return "backend 101 has a wrong Sec-WebSocket-Accept";
  return std::nullopt;
}

Why check_no_extensions(const Message& msg) {
  // wsgate never offers an extension upstream, so any answer is unsolicited.
  if (msg.count(http::field::sec_websocket_extensions) == 0) return std::nullopt;
  return "backend 101 accepted a Sec-WebSocket-Extensions that was not offered";
}

// The protocol the backend chose: empty when it chose none, nullopt when its
// choice is invalid (several, or one the client did not offer; RFC 6455 4.1).
std::optional<std::string> chosen_protocol(const Message& msg, const ClientRequest& req) {
  const auto count = msg.count(http::field::sec_websocket_protocol);
  if (count == 0) return std::string();
  if (count > 1) return std::nullopt;
  const std::string_view chosen = sv(msg[http::field::sec_websocket_protocol]);
  for (const auto& offered : req.protocols) {
    if (offered == chosen) return offered;
  }
  return std::nullopt;  // also covers "a, b" and anything when nothing was offered
}

UpstreamVerdict bad_gateway(int status, std::string why) {
  UpstreamVerdict v;
  v.kind = UpstreamVerdict::Kind::bad_gateway;
  v.status = status;
  v.why = std::move(why);
  return v;
}

UpstreamVerdict judge_switching(const Message& msg, const ClientRequest& req, std::string_view sent_key) {
  for (Why why : {check_upgrade_websocket(msg), check_connection_upgrade(msg), check_accept(msg, sent_key),
                  check_no_extensions(msg)}) {
    if (why) return bad_gateway(101, std::move(*why));
  }
  auto protocol = chosen_protocol(msg, req);
  if (!protocol) return bad_gateway(101, "backend 101 chose a Sec-WebSocket-Protocol the client did not offer");
  UpstreamVerdict v;
  v.kind = UpstreamVerdict::Kind::upgraded;
  v.status = 101;
  v.protocol = std::move(*protocol);
  return v;
}

// ---- passing a refusal through (B1) -------------------------------------------

std::string client_response_for(const Message& msg) {
  const int status = msg.result_int();
  const std::string_view reason = sv(msg.reason());
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason.empty() ? std::string_view(reason_phrase(status)) : reason);
  require_no_crlf(out);
  out += "\r\n";
  for (const http::field name : kPassedThroughHeaders) {
    const auto [first, last] = msg.equal_range(name);
    for (auto it = first; it != last; ++it) append_header(out, sv(http::to_string(name)), sv(it->value()));
  }
  append_header(out, "Connection", "close");
  append_header(out, "Content-Length", std::to_string(msg.body().size()));
  out += "\r\n";
  out += msg.body();
  return out;
}

UpstreamVerdict pass_through(const Message& msg) {
  UpstreamVerdict v;
  v.kind = UpstreamVerdict::Kind::pass_through;
  v.status = msg.result_int();
  v.client_response = client_response_for(msg);
  return v;
}

}  // namespace

// ---- the request to the backend -------------------------------------------------

std::string build_upgrade_request(const UpgradeRequest& r, std::initializer_list<HeaderLine> more) {
  require_no_crlf(r.target);
  std::string out;
  out.reserve(512);  // a typical request fits: one allocation
  out.append("GET ");
  out.append(r.target).append(" HTTP/1.1\r\n");
  append_header(out, "Host", r.host);
  append_header(out, "Upgrade", "websocket");
  append_header(out, "Connection", "Upgrade");
  append_header(out, "Sec-WebSocket-Key", r.key);
  append_header(out, "Sec-WebSocket-Version", "13");
  // No Sec-WebSocket-Extensions: permessage-deflate is never offered (F16).
  if (r.protocols != nullptr && !r.protocols->empty())
    append_header(out, "Sec-WebSocket-Protocol", joined(*r.protocols));
  if (r.headers != nullptr) {
    for (const auto& [name, value] : *r.headers) append_header(out, name, value);
  }
  for (const auto& [name, value] : more) append_header(out, name, value);
  out += "\r\n";
  return out;
}

std::string build_upstream_request(const ClientRequest& req, std::string_view client_ip, std::string_view key) {
  std::string xff;
  if (!req.x_forwarded_for.empty()) {
    xff.append(req.x_forwarded_for).append(", ");
  }
  xff.append(client_ip);
  std::string out = build_upgrade_request(
      {req.target, req.host, key, &req.protocols, &req.forward_headers},
      {{"X-Forwarded-For", xff}, {"X-Forwarded-Proto", req.tls.on ? "https" : "http"}, {"X-Real-IP", client_ip}});
  if (!req.tls.cert_sha256.empty()) {
    out.resize(out.size() - 2);  // before the blank line that ends the header
    append_header(out, "X-Client-Cert-Subject", req.tls.cert_subject);
    append_header(out, "X-Client-Cert-Sha256", req.tls.cert_sha256);
    out += "\r\n";
  }
  return out;
}

// ---- ResponseReader -------------------------------------------------------------

struct ResponseReader::Impl {
  Impl() {
    parser.header_limit(kMaxResponseHeader);
    parser.body_limit(kMaxResponseBody);
    // parse() reads a refusal's body in the same call as its header (eager
    // once the header is done); a 101 still ends at its header because Beast
    // treats every 1xx as header-only.
  }

  Status fail(std::string why) {
    error = std::move(why);
    return state = Status::error;
  }

  Status fail_on(const boost::system::error_code& ec) {
    if (ec == http::error::body_limit)
      return fail("backend response body over " + std::to_string(kMaxResponseBody) + " bytes");
    if (ec == http::error::header_limit)
      return fail("backend response header over " + std::to_string(kMaxResponseHeader) + " bytes");
    if (ec == http::error::partial_message) return fail("backend closed the connection in the middle of its response");
    return fail("malformed backend response: " + ec.message());
  }

  Status parse(std::string_view received) {
    if (state != Status::need_more) return state;
    assert(received.size() >= consumed && "parse() must get every byte received so far");
    while (!parser.is_done() && consumed < received.size()) {
      // The header alone first: Beast 1.74, when eager, goes on into the body
      // after finish_header() failed on a Content-Length over body_limit, and
      // reserves the announced length (11 TB from one backend line: a throw
      // that ends the worker). Not eager, it stops there and reports body_limit.
      parser.eager(parser.is_header_done());
      boost::system::error_code ec;
      const size_t n = parser.put(boost::asio::buffer(received.data() + consumed, received.size() - consumed), ec);
      consumed += n;
      if (ec == http::error::need_more) break;
      if (ec) return fail_on(ec);
      if (n == 0) break;  // no progress without an error: wait for more bytes
    }
    return parser.is_done() ? state = Status::done : Status::need_more;
  }

  Status on_eof() {
    if (state != Status::need_more) return state;
    if (!parser.got_some()) return fail("backend closed the connection without answering");
    boost::system::error_code ec;
    parser.put_eof(ec);
    if (ec) return fail_on(ec);
    assert(parser.is_done() && "put_eof() without error completes the message");
    return state = Status::done;
  }

  Parser parser;
  size_t consumed = 0;  // bytes of `received` Beast has taken
  Status state = Status::need_more;
  std::string error;
};

ResponseReader::ResponseReader() : impl_(std::make_unique<Impl>()) {}
ResponseReader::~ResponseReader() = default;

ResponseReader::Status ResponseReader::parse(std::string_view received) { return impl_->parse(received); }

ResponseReader::Status ResponseReader::on_eof() { return impl_->on_eof(); }

size_t ResponseReader::consumed() const {
  assert(impl_->state == Status::done && "consumed() is valid only after done");
  return impl_->consumed;
}

const std::string& ResponseReader::error() const {
  assert(impl_->state == Status::error && "error() is valid only after error");
  return impl_->error;
}

UpstreamVerdict ResponseReader::judge(const ClientRequest& req, std::string_view sent_key) const {
  assert(impl_->state == Status::done && "judge() is valid only after done");
  const Message& msg = impl_->parser.get();
  const int status = msg.result_int();
  if (status == 101) return judge_switching(msg, req, sent_key);
  if (status < 100 || status > 599)
    return bad_gateway(status, "backend answered with invalid status " + std::to_string(status));
  if (status < 200)
    return bad_gateway(status, "backend answered the upgrade with an interim " + std::to_string(status) + " response");
  return pass_through(msg);
}

}  // namespace wsgate::worker
