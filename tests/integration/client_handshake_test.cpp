// Checklist rows H1-H8, H10 and R4 through the real wsgate binary: what a
// client sees for every malformed, hostile or over-limit upgrade request, and
// what the backend receives (or does not) when the request is good.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/gateway.h"
#include "tests/support/process.h"
#include "tests/support/ws_client.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kRoute = "routes:\n  - { path: /chat, pool: chat }\n";
const std::string kKey = "dGhlIHNhbXBsZSBub25jZQ==";

// How many TCP connections the echo backend has accepted so far (it logs one
// "accepted" line per connection before reading anything).
std::size_t accepted(EchoBackend& be) {
  const std::string err = be.process().stderr_text();
  std::size_t n = 0;
  for (std::size_t at = err.find(": accepted"); at != std::string::npos; at = err.find(": accepted", at + 1)) ++n;
  return n;
}

// The request WsClient::open() would send, with extras applied.
std::string request(const std::string& path, const std::vector<Header>& extra = {},
                    const std::vector<std::string>& protocols = {}) {
  return WsClient::upgrade_request(path, "127.0.0.1", kKey, extra, protocols);
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Connects, sends `bytes` in one write and reads one HTTP response.
HttpResponse send_request(const Gateway& gw, const std::string& bytes, WsClient* keep = nullptr) {
  WsClient ws = WsClient::connect(gw.port());
  ws.send_raw(bytes);
  HttpResponse r = ws.read_http_response();
  if (keep != nullptr) *keep = std::move(ws);
  return r;
}

// Reads the socket directly until the peer closes TCP; returns every byte
// that arrived after what `ws` had already buffered, or nullopt on timeout.
std::optional<std::string> bytes_until_eof(WsClient& ws, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string got;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{ws.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(ws.fd(), buf, sizeof buf, 0);
    if (n <= 0) return got;  // FIN or reset: the connection is over
    got.append(buf, static_cast<std::size_t>(n));
  }
}

// An error answer: exact status, Connection: close, then nothing but EOF.
void expect_refused(WsClient& ws, const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.head.raw << r.body;
  EXPECT_TRUE(r.head.has_token("Connection", "close")) << r.head.raw;
  EXPECT_EQ(ws.buffered(), 0u);
  const auto rest = bytes_until_eof(ws, 3s);
  ASSERT_TRUE(rest.has_value()) << "wsgate did not close the connection after " << status;
  EXPECT_EQ(*rest, "") << "bytes after the " << status << " answer";
}

void expect_refused(const Gateway& gw, const std::string& bytes, int status) {
  WsClient ws;
  const HttpResponse r = send_request(gw, bytes, &ws);
  expect_refused(ws, r, status);
}

void expect_echo(WsClient& ws, const std::string& text) {
  ws.send_text(text);
  const Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kText);
  EXPECT_EQ(m.payload, text);
}

// What the backend received, from its `headers` command.
HttpHead backend_view(WsClient& ws) {
  ws.send_text("headers");
  return parse_head(ws.recv_message().payload + "\r\n\r\n");
}

// One backend, one pool "chat" routed at /chat.
class client_handshake : public ::testing::Test {
 protected:
  explicit client_handshake(const std::string& route = kRoute, const std::string& limits = "", unsigned workers = 2)
      : gw_(limits + pool_yaml("chat", {be_.port()}) + route, workers) {}

  // After refused requests: one good session proves the backend is reachable
  // and that it accepted exactly one connection in all.
  void expect_only_good_session_reached_backend() {
    EXPECT_EQ(accepted(be_), 0u) << "a refused request reached the backend:\n" << be_.process().stderr_text();
    WsClient ok = gw_.open("/chat");
    ASSERT_TRUE(ok.handshake_ok()) << ok.handshake_error();
    EXPECT_EQ(accepted(be_), 1u) << be_.process().stderr_text();
  }

  std::string log() { return gw_.process().stderr_text(); }

  EchoBackend be_{"one"};
  Gateway gw_;
};

// ---------------------------------------------------------------- H1

TEST_F(client_handshake, H1_PostHttp10AndBodiesAreRefusedWith400AndNeverForwarded) {
  const std::string good = request("/chat");
  SCOPED_TRACE(log());
  {
    SCOPED_TRACE("POST");
    expect_refused(gw_, replace_first(good, "GET ", "POST "), 400);
  }
  {
    SCOPED_TRACE("HTTP/1.0");
    expect_refused(gw_, replace_first(good, " HTTP/1.1\r\n", " HTTP/1.0\r\n"), 400);
  }
  {
    SCOPED_TRACE("Content-Length: 5");
    expect_refused(gw_, request("/chat", {{"Content-Length", "5"}}) + "hello", 400);
  }
  {
    SCOPED_TRACE("Transfer-Encoding: chunked");
    expect_refused(gw_, request("/chat", {{"Transfer-Encoding", "chunked"}}) + "5\r\nhello\r\n0\r\n\r\n", 400);
  }
  expect_only_good_session_reached_backend();
}

// ---------------------------------------------------------------- H2

TEST_F(client_handshake, H2_MissingOrMalformedKeyIs400) {
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"missing", std::nullopt},
      {"15 bytes", base64_encode(std::string(15, 'k'))},
      {"17 bytes", base64_encode(std::string(17, 'k'))},
      {"not base64", "!!!!not*base64*at*all!!!"},
  };
  for (const auto& [what, key] : cases) {
    SCOPED_TRACE(what);
    expect_refused(gw_, request("/chat", {{"Sec-WebSocket-Key", key}}), 400);
  }
  expect_only_good_session_reached_backend();
}

// ---------------------------------------------------------------- H3

TEST_F(client_handshake, H3_MissingUpgradeOrConnectionTokenIs400) {
  const std::vector<std::pair<std::string, std::vector<Header>>> cases = {
      {"no Upgrade", {{"Upgrade", std::nullopt}}},
      {"Upgrade: h2c", {{"Upgrade", "h2c"}}},
      {"Connection without upgrade", {{"Connection", "keep-alive"}}},
      {"no Connection", {{"Connection", std::nullopt}}},
  };
  for (const auto& [what, extra] : cases) {
    SCOPED_TRACE(what);
    expect_refused(gw_, request("/chat", extra), 400);
  }
  expect_only_good_session_reached_backend();
}

TEST_F(client_handshake, H3_TokenListsAndAnyCaseAreAccepted) {
  const std::vector<std::vector<Header>> cases = {
      {{"Connection", "keep-alive, Upgrade"}},
      {{"Upgrade", "WebSocket"}},
      {{"Upgrade", "WEBSOCKET"}, {"Connection", "UPGRADE"}},
  };
  for (const auto& extra : cases) {
    SCOPED_TRACE(extra[0].name + ": " + *extra[0].value);
    WsClient ws = gw_.open("/chat", extra);
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
    expect_echo(ws, "tokens ok");
  }
}

// ---------------------------------------------------------------- H4

TEST_F(client_handshake, H4_VersionOtherThan13Is426WithVersionHeader) {
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"8", "8"}, {"013", "013"}, {"missing", std::nullopt}};
  for (const auto& [what, version] : cases) {
    SCOPED_TRACE(what);
    WsClient ws;
    const HttpResponse r = send_request(gw_, request("/chat", {{"Sec-WebSocket-Version", version}}), &ws);
    EXPECT_EQ(r.header("Sec-WebSocket-Version"), "13") << r.head.raw;
    expect_refused(ws, r, 426);
  }
  expect_only_good_session_reached_backend();
}

// ---------------------------------------------------------------- H5

class client_handshake_origin : public client_handshake {
 protected:
  client_handshake_origin()
      : client_handshake("routes:\n  - { path: /chat, pool: chat, origins: [\"https://good.example\"] }\n") {}
};

TEST_F(client_handshake_origin, H5_BadOriginIs403AndPipelinedRequestIsNotProcessed) {
  WsClient ws = WsClient::connect(gw_.port());
  ws.send_raw(request("/chat", {{"Origin", "https://evil.example"}}) +
              request("/chat", {{"Origin", "https://good.example"}}));
  const HttpResponse r = ws.read_http_response();
  expect_refused(ws, r, 403);  // one response, then EOF with nothing more
  EXPECT_EQ(accepted(be_), 0u) << be_.process().stderr_text();
  // A bad origin alone, too.
  expect_refused(gw_, request("/chat", {{"Origin", "https://good.example.evil"}}), 403);
  expect_only_good_session_reached_backend();
}

TEST_F(client_handshake_origin, H5_GoodOriginInAnyCaseAndNoOriginAreAccepted) {
  for (const std::optional<std::string>& origin :
       {std::optional<std::string>("https://good.example"), std::optional<std::string>("HTTPS://Good.Example"),
        std::optional<std::string>()}) {
    SCOPED_TRACE(origin.value_or("(no Origin)"));
    WsClient ws = gw_.open("/chat", {{"Origin", origin}});
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
    expect_echo(ws, "origin ok");
  }
}

// ---------------------------------------------------------------- H6

TEST_F(client_handshake, H6_Http2SettingsIsNeverForwarded) {
  for (const std::string connection : {"Upgrade", "Upgrade, HTTP2-Settings"}) {
    SCOPED_TRACE(connection);
    WsClient ws = gw_.open("/chat", {{"Connection", connection}, {"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}});
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
    const HttpHead seen = backend_view(ws);
    EXPECT_EQ(seen.count("HTTP2-Settings"), 0u) << seen.raw;
    EXPECT_EQ(seen.raw.find("AAMAAABkAAQAoAAAAAIAAAAA"), std::string::npos) << seen.raw;
  }
}

TEST_F(client_handshake, H6_H2cAloneIs400AndOtherUpgradeTokensAreNotForwarded) {
  expect_refused(gw_, request("/chat", {{"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}}), 400);
  EXPECT_EQ(accepted(be_), 0u);
  WsClient ws = gw_.open("/chat", {{"Upgrade", "h2c, websocket"}});
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
  const HttpHead seen = backend_view(ws);
  EXPECT_EQ(seen.count("Upgrade"), 1u) << seen.raw;
  EXPECT_EQ(seen.get("Upgrade"), "websocket") << seen.raw;
}

// ---------------------------------------------------------------- H7

TEST_F(client_handshake, H7_HopByHopAndConnectionNamedHeadersAreStripped) {
  const std::vector<Header> extra = {
      {"Connection", "keep-alive, Upgrade, X-Secret"},
      {"X-Secret", "s3cret"},
      {"Keep-Alive", "timeout=5"},
      {"TE", "trailers"},
      {"Trailer", "X-Checksum"},
      {"Proxy-Connection", "keep-alive"},
      {"Proxy-Authorization", "Basic cHJveHk6cGFzcw=="},
  };
  WsClient ws = gw_.open("/chat", extra);
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
  const HttpHead seen = backend_view(ws);
  for (const char* name : {"X-Secret", "Keep-Alive", "TE", "Trailer", "Proxy-Connection", "Proxy-Authorization"})
    EXPECT_EQ(seen.count(name), 0u) << name << " reached the backend:\n" << seen.raw;
  EXPECT_EQ(seen.raw.find("s3cret"), std::string::npos) << seen.raw;
  EXPECT_TRUE(seen.has_token("Connection", "upgrade")) << seen.raw;
  EXPECT_FALSE(seen.has_token("Connection", "x-secret")) << seen.raw;
}

TEST_F(client_handshake, H7_EndToEndHeadersPathAndForwardingHeadersReachTheBackend) {
  const std::vector<Header> extra = {
      {"Host", "front.example:8443"},
      {"Origin", "https://app.example"},
      {"Cookie", "sid=abc123; theme=dark"},
      {"Authorization", "Bearer t0ken"},
      {"User-Agent", "wsgate-test/1.0"},
      {"X-Custom", "custom value"},
      {"X-Forwarded-For", "203.0.113.7"},
      {"Sec-WebSocket-Key", kKey},
      {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"},
  };
  WsClient ws = gw_.open("/chat/room?x=1&y=two", extra);
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
  EXPECT_EQ(ws.response().header("Sec-WebSocket-Extensions"), std::nullopt) << ws.response().head.raw;
  EXPECT_EQ(ws.response().header("Sec-WebSocket-Accept"), websocket_accept(kKey));

  const HttpHead seen = backend_view(ws);
  SCOPED_TRACE(seen.raw);
  EXPECT_EQ(seen.start_line, "GET /chat/room?x=1&y=two HTTP/1.1");
  const std::vector<std::pair<std::string, std::string>> want = {
      {"Host", "front.example:8443"},
      {"Origin", "https://app.example"},
      {"Cookie", "sid=abc123; theme=dark"},
      {"Authorization", "Bearer t0ken"},
      {"User-Agent", "wsgate-test/1.0"},
      {"X-Custom", "custom value"},
      {"X-Forwarded-For", "203.0.113.7, 127.0.0.1"},
      {"X-Forwarded-Proto", "http"},
      {"X-Real-IP", "127.0.0.1"},
      {"Sec-WebSocket-Version", "13"},
  };
  for (const auto& [name, value] : want) {
    EXPECT_EQ(seen.count(name), 1u) << name;
    EXPECT_EQ(seen.get(name), value) << name;
  }
  const auto key = seen.get("Sec-WebSocket-Key");
  ASSERT_TRUE(key.has_value());
  EXPECT_NE(*key, kKey) << "the client's key was forwarded";
  EXPECT_EQ(key->size(), 24u) << *key;  // base64 of 16 bytes
  EXPECT_EQ(seen.count("Sec-WebSocket-Extensions"), 0u);
  EXPECT_EQ(seen.raw.find("permessage-deflate"), std::string::npos);
}

TEST_F(client_handshake, H7_ForwardingHeadersAreSetWhenTheClientSentNone) {
  WsClient ws = gw_.open("/chat");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  const HttpHead seen = backend_view(ws);
  EXPECT_EQ(seen.get("X-Forwarded-For"), "127.0.0.1") << seen.raw;
  EXPECT_EQ(seen.get("X-Real-IP"), "127.0.0.1") << seen.raw;
  // A client cannot choose the X-Real-IP or X-Forwarded-Proto the backend sees.
  WsClient spoof = gw_.open("/chat", {{"X-Real-IP", "10.9.9.9"}, {"X-Forwarded-Proto", "https"}});
  ASSERT_TRUE(spoof.handshake_ok()) << spoof.handshake_error();
  const HttpHead seen2 = backend_view(spoof);
  EXPECT_EQ(seen2.count("X-Real-IP"), 1u) << seen2.raw;
  EXPECT_EQ(seen2.get("X-Real-IP"), "127.0.0.1") << seen2.raw;
  EXPECT_EQ(seen2.get("X-Forwarded-Proto"), "http") << seen2.raw;
}

// ---------------------------------------------------------------- H8

class client_handshake_limits : public client_handshake {
 protected:
  client_handshake_limits()
      : client_handshake(kRoute, "limits:\n  max_header: 2KiB\n  handshake_timeout: 300ms\n", 1) {}
};

TEST_F(client_handshake_limits, H8_TrickledRequestGets408WhileOtherSessionsOfTheWorkerEcho) {
  WsClient busy = gw_.open("/chat");
  ASSERT_TRUE(busy.handshake_ok()) << busy.handshake_error();
  const std::string bytes = request("/chat");
  WsClient slow = WsClient::connect(gw_.port());
  const auto start = Clock::now();
  std::optional<HttpResponse> r;
  int echoes = 0;
  for (std::size_t i = 0; i < bytes.size() - 1 && Clock::now() - start < 5s; ++i) {
    slow.send_raw(bytes.substr(i, 1));
    expect_echo(busy, "meanwhile " + std::to_string(i));  // the worker is not blocked
    ++echoes;
    if ((r = slow.try_read_http_response(30ms))) break;
  }
  if (!r) r = slow.try_read_http_response(3s);
  const auto took = Clock::now() - start;
  ASSERT_TRUE(r.has_value()) << "no answer to a trickled request\n" << log();
  EXPECT_EQ(r->status, 408) << r->head.raw;
  EXPECT_TRUE(r->head.has_token("Connection", "close")) << r->head.raw;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  EXPECT_GT(echoes, 2);
  EXPECT_TRUE(slow.try_wait_eof(3s));
  expect_echo(busy, "still here");
  EXPECT_EQ(accepted(be_), 1u) << "only the busy session reaches the backend";
}

TEST_F(client_handshake_limits, H8_SilentClientGets408) {
  WsClient silent = WsClient::connect(gw_.port());
  const auto start = Clock::now();
  const HttpResponse r = silent.read_http_response(3s);
  EXPECT_LT(Clock::now() - start, 3s);
  expect_refused(silent, r, 408);
}

TEST_F(client_handshake_limits, H8_HeaderBlockOverMaxHeaderIs431) {
  expect_refused(gw_, request("/chat", {{"X-Pad", std::string(3 * 1024, 'a')}}), 431);
  // Split over several writes, too: the limit is on the block, not a read.
  WsClient ws = WsClient::connect(gw_.port());
  const std::string big = request("/chat", {{"X-Pad", std::string(3 * 1024, 'b')}});
  std::optional<HttpResponse> r;
  for (std::size_t at = 0; at < big.size() && !r; at += 512) {
    ws.send_raw(big.substr(at, 512));
    r = ws.try_read_http_response(20ms);
  }
  if (!r) r = ws.read_http_response();
  expect_refused(ws, *r, 431);
  // Just under the limit is fine.
  WsClient ok = gw_.open("/chat", {{"X-Pad", std::string(1500, 'c')}});
  EXPECT_TRUE(ok.handshake_ok()) << ok.handshake_error() << "\n" << log();
}

// ---------------------------------------------------------------- H10

TEST_F(client_handshake, H10_NoRouteIs404AndNoBackendIsDialed) {
  for (const std::string path : {"/", "/other", "/cha", "/Chat"}) {
    SCOPED_TRACE(path);
    expect_refused(gw_, request(path), 404);
  }
  expect_only_good_session_reached_backend();
}

// ---------------------------------------------------------------- R4

// "connections" of worker slot 0 in `wsgate status --json`.
long slot0_connections(const Gateway& gw) {
  const CommandResult r = run_wsgate({"status", "-c", gw.config_path(), "--json"});
  std::smatch m;
  if (r.code != 0 || !std::regex_search(r.out, m, std::regex(R"re("connections":(\d+))re")))
    throw TestIoError("cannot read connections from status: " + r.out + r.err);
  return std::stol(m[1]);
}

class client_handshake_max_connections : public client_handshake {
 protected:
  client_handshake_max_connections() : client_handshake(kRoute, "limits:\n  max_connections: 2\n", 1) {}
};

TEST_F(client_handshake_max_connections, R4_ThirdConnectionGets503AndExistingSessionsAreUnaffected) {
  WsClient a = gw_.open("/chat"), b = gw_.open("/chat");
  ASSERT_TRUE(a.handshake_ok()) << a.handshake_error();
  ASSERT_TRUE(b.handshake_ok()) << b.handshake_error();
  {
    WsClient c = gw_.open("/chat");
    EXPECT_EQ(c.status(), 503) << c.response().head.raw << "\n" << log();
    EXPECT_TRUE(c.response().head.has_token("Connection", "close")) << c.response().head.raw;
    EXPECT_TRUE(c.try_wait_eof(3s));
  }
  expect_echo(a, "a still works");
  expect_echo(b, "b still works");
  EXPECT_EQ(accepted(be_), 2u) << "the refused connection reached the backend";

  a.close(1000, "done");
  EXPECT_EQ(a.expect_close().code, 1000);
  a.wait_eof();
  // Wait until the worker has let go of both a and the refused connection.
  const auto deadline = Clock::now() + 5s;
  long n = slot0_connections(gw_);
  while (n != 1 && Clock::now() < deadline) {
    ::usleep(20 * 1000);
    n = slot0_connections(gw_);
  }
  ASSERT_EQ(n, 1) << log();
  WsClient d = gw_.open("/chat");
  ASSERT_TRUE(d.handshake_ok()) << d.handshake_error() << "\n" << log();
  expect_echo(d, "d works");
  expect_echo(b, "b still works");
}

}  // namespace
}  // namespace wsgate::test
