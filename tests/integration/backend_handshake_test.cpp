// Checklist rows B1-B4, H9 and H11 through the real wsgate binary: what a
// client sees when the backend refuses, answers a bad 101, hangs or is not
// there at all, and what happens to frames sent before the 101.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
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

// Nothing but EOF follows what was read: the connection was never tunnelled.
void expect_eof_and_nothing_else(WsClient& ws, const std::string& what) {
  EXPECT_EQ(ws.buffered(), 0u) << what;
  const auto rest = bytes_until_eof(ws, 3s);
  ASSERT_TRUE(rest.has_value()) << "wsgate did not close the connection after " << what;
  EXPECT_EQ(*rest, "") << "bytes after " << what;
}

// A refusal by wsgate or passed on from the backend: exact status,
// Connection: close, and a frame sent afterwards is never answered.
void expect_refused(WsClient& ws, int status, const std::string& log) {
  const HttpResponse& r = ws.response();
  EXPECT_EQ(r.status, status) << r.head.raw << r.body << "\n" << log;
  EXPECT_TRUE(r.head.has_token("Connection", "close")) << r.head.raw;
  ws.send_text("are you there?");
  expect_eof_and_nothing_else(ws, std::to_string(status));
}

void expect_echo(WsClient& ws, const std::string& text) {
  ws.send_text(text);
  const Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kText);
  EXPECT_EQ(m.payload, text);
}

std::string whoami(WsClient& ws) {
  ws.send_text("whoami");
  return ws.recv_message().payload;
}

std::string pool(const std::vector<std::uint16_t>& ports, const std::string& extra = "") {
  return pool_yaml("chat", ports, extra) + kRoute;
}

// One backend named "one"; failures never mark it down (so every case in a
// test reaches it) unless a test says otherwise.
class backend_handshake : public ::testing::Test {
 protected:
  explicit backend_handshake(const std::string& extra = "    fail_timeout: 0ms\n")
      : gw_(pool({be_.port()}, extra), 2) {}

  std::string log() { return gw_.process().stderr_text(); }

  EchoBackend be_{"one"};
  Gateway gw_;
};

// ---------------------------------------------------------------- H9

TEST_F(backend_handshake, H9_FramesBehindTheRequestAreDeliveredInOrderAfterThe101) {
  WsClient ws = WsClient::connect(gw_.port());
  std::string early;
  early += build_frame(RawFrame::of(kText, "first"));
  early += build_frame(RawFrame::of(kBinary, std::string("\x00\x01\x02\xff", 4)));
  early += build_frame(RawFrame::of(kPing, "early ping"));
  early += build_frame(RawFrame::of(kText, "thi").not_final());
  early += build_frame(RawFrame::of(kContinuation, "rd"));
  early += build_frame(RawFrame::of(kText, "whoami"));
  ws.send_raw(WsClient::upgrade_request("/chat", "127.0.0.1", kKey, {}, {}) + early);

  const HttpResponse r = ws.read_http_response();
  ASSERT_EQ(r.status, 101) << r.head.raw << r.body << "\n" << log();
  EXPECT_EQ(r.header("Sec-WebSocket-Accept"), websocket_accept(kKey));
  Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kText);
  EXPECT_EQ(m.payload, "first");
  m = ws.recv_message();
  EXPECT_EQ(m.opcode, kBinary);
  EXPECT_EQ(m.payload, std::string("\x00\x01\x02\xff", 4));
  m = ws.recv_message();
  EXPECT_EQ(m.opcode, kPong);
  EXPECT_EQ(m.payload, "early ping");
  m = ws.recv_message();
  EXPECT_EQ(m.payload, "third");
  EXPECT_EQ(m.frames, 2u);
  EXPECT_EQ(ws.recv_message().payload, "one");
  expect_echo(ws, "and after");
}

TEST_F(backend_handshake, H9_FramesBehindARefusedRequestAreDropped) {
  WsClient ws = WsClient::connect(gw_.port());
  ws.send_raw(WsClient::upgrade_request("/chat?mode=status-403", "127.0.0.1", kKey, {}, {}) +
              build_frame(RawFrame::of(kText, "must not arrive")) + build_frame(RawFrame::of(kPing, "nor this")));
  const HttpResponse r = ws.read_http_response();
  EXPECT_EQ(r.status, 403) << r.head.raw << "\n" << log();
  EXPECT_EQ(r.body, "forbidden by backend one");
  expect_eof_and_nothing_else(ws, "403");
}

// ---------------------------------------------------------------- B1

TEST_F(backend_handshake, B1_BackendRefusalsArePassedOnAsPlainHttpAndNeverTunnelled) {
  struct Case {
    std::string mode;
    int status;
    std::string body, header, value;
  };
  const std::vector<Case> cases = {
      {"status-403", 403, "forbidden by backend one", "", ""},
      {"status-426", 426, "upgrade required by backend one", "Sec-WebSocket-Version", "13"},
      {"status-200", 200, "ok from backend one", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode);
    WsClient ws = gw_.open("/chat?mode=" + c.mode);
    EXPECT_EQ(ws.response().body, c.body);
    EXPECT_EQ(ws.response().header("Content-Length"), std::to_string(c.body.size()));
    if (!c.header.empty()) {
      EXPECT_EQ(ws.response().header(c.header), c.value) << ws.response().head.raw;
    }
    expect_refused(ws, c.status, log());
  }
  // The backend was never marked down for saying no.
  WsClient ok = gw_.open("/chat");
  ASSERT_TRUE(ok.handshake_ok()) << ok.handshake_error() << "\n" << log();
}

TEST_F(backend_handshake, B1_Backend5xxIsPassedOnWhenNoOtherBackendDoesBetter) {
  WsClient ws = gw_.open("/chat?mode=status-503");
  EXPECT_EQ(ws.response().body, "unavailable from backend one");
  EXPECT_EQ(ws.response().header("Retry-After"), "7") << ws.response().head.raw;
  expect_refused(ws, 503, log());
}

// ---------------------------------------------------------------- B2, B3

TEST_F(backend_handshake, B2_Bad101Is502) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad-accept", "wrong Sec-WebSocket-Accept"},
      {"no-upgrade", "lacks Upgrade: websocket"},
  };
  for (const auto& [mode, why] : cases) {
    SCOPED_TRACE(mode);
    WsClient ws = gw_.open("/chat?mode=" + mode);
    expect_refused(ws, 502, log());
    EXPECT_TRUE(gw_.process().has_output(why, Match::kSubstring, Stream::kStderr)) << log();
  }
}

TEST_F(backend_handshake, B3_101WithUnofferedExtensionOrSubprotocolIs502) {
  {
    SCOPED_TRACE("extension");
    WsClient ws = gw_.open("/chat?mode=extension");
    expect_refused(ws, 502, log());
  }
  {
    SCOPED_TRACE("extension although the client offered permessage-deflate");
    WsClient ws = gw_.open("/chat?mode=extension", {{"Sec-WebSocket-Extensions", "permessage-deflate"}});
    expect_refused(ws, 502, log());
  }
  {
    SCOPED_TRACE("protocol, none offered");
    WsClient ws = gw_.open("/chat?mode=unoffered-protocol");
    expect_refused(ws, 502, log());
  }
  {
    SCOPED_TRACE("protocol, others offered");
    WsClient ws = gw_.open("/chat?mode=unoffered-protocol", {}, {"chat", "superchat"});
    expect_refused(ws, 502, log());
  }
  EXPECT_TRUE(gw_.process().has_output("Sec-WebSocket-Extensions", Match::kSubstring, Stream::kStderr)) << log();
  EXPECT_TRUE(gw_.process().has_output("Sec-WebSocket-Protocol", Match::kSubstring, Stream::kStderr)) << log();
}

// ---------------------------------------------------------------- subprotocols

TEST_F(backend_handshake, SubprotocolChosenByTheBackendReachesTheClient) {
  WsClient ws = gw_.open("/chat", {}, {"chat", "superchat"});
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
  EXPECT_EQ(ws.response().header("Sec-WebSocket-Protocol"), "chat");
  EXPECT_EQ(ws.response().head.count("Sec-WebSocket-Protocol"), 1u);
  ws.send_text("headers");
  const HttpHead seen = parse_head(ws.recv_message().payload + "\r\n\r\n");
  EXPECT_EQ(seen.get("Sec-WebSocket-Protocol"), "chat, superchat") << seen.raw;

  WsClient none = gw_.open("/chat");
  ASSERT_TRUE(none.handshake_ok()) << none.handshake_error();
  EXPECT_EQ(none.response().header("Sec-WebSocket-Protocol"), std::nullopt) << none.response().head.raw;
}

// ---------------------------------------------------------------- B4

class backend_handshake_timeout : public backend_handshake {
 protected:
  backend_handshake_timeout() : backend_handshake("    fail_timeout: 0ms\n    connect_timeout: 300ms\n") {}
};

TEST_F(backend_handshake_timeout, B4_BackendThatNeverAnswersIs502WithinTheTimeout) {
  const auto start = Clock::now();
  WsClient ws = gw_.open("/chat?mode=hang", {}, {}, 10s);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  expect_refused(ws, 502, log());
  EXPECT_TRUE(gw_.process().has_output("no answer to the upgrade request", Match::kSubstring, Stream::kStderr))
      << log();
}

TEST_F(backend_handshake_timeout, B4_SlowButInTimeBackendIsAccepted) {
  WsClient ws = gw_.open("/chat?mode=slow-100");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error() << "\n" << log();
  expect_echo(ws, "slow but fine");
}

TEST(backend_handshake_retries, B4_RefusedConnectionFallsThroughToTheNextBackend) {
  EchoBackend live("live");
  const std::uint16_t dead = free_port();
  // fail_timeout 0ms: the dead backend is never skipped, so with least_conn
  // (it always has the fewest sessions) every client is dialed to it first.
  Gateway gw(pool({dead, live.port()}, "    retries: 1\n    fail_timeout: 0ms\n"), 1);
  std::vector<WsClient> clients;
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok()) << clients.back().handshake_error() << "\n"
                                               << gw.process().stderr_text();
    EXPECT_EQ(whoami(clients.back()), "live");
  }
  EXPECT_TRUE(gw.process().has_output("connect() failed", Match::kSubstring, Stream::kStderr))
      << "the dead backend was never tried:\n"
      << gw.process().stderr_text();
  for (auto& ws : clients) expect_echo(ws, "all alive");
}

TEST(backend_handshake_retries, B4_RetriesZeroMeansOneAttempt) {
  EchoBackend live("live");
  const std::uint16_t dead = free_port();
  Gateway gw(pool({dead, live.port()}, "    retries: 0\n    fail_timeout: 0ms\n    balance: round_robin\n"), 1);
  int ok = 0, bad_gateway = 0;
  for (int i = 0; i < 4; ++i) {
    WsClient ws = gw.open("/chat");
    if (ws.handshake_ok()) {
      ++ok;
    } else {
      EXPECT_EQ(ws.status(), 502) << ws.response().head.raw << "\n" << gw.process().stderr_text();
      ++bad_gateway;
    }
  }
  // Round robin over two backends with no retry: half the attempts hit the dead one.
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(bad_gateway, 2);
}

// ---------------------------------------------------------------- H11

TEST(backend_handshake_no_healthy, H11_FirstFailureIs502ThenTheDownPoolIs503WithRetryAfter) {
  const std::uint16_t dead = free_port();
  Gateway gw(pool({dead}, "    fail_timeout: 10s\n"), 2);
  const auto log = [&] { return gw.process().stderr_text(); };
  const auto start = Clock::now();
  WsClient first = gw.open("/chat");
  expect_refused(first, 502, log());
  for (int i = 0; i < 3; ++i) {  // with two workers, both see the shared health
    SCOPED_TRACE(i);
    WsClient ws = gw.open("/chat");
    const auto retry = ws.response().header("Retry-After");
    ASSERT_TRUE(retry.has_value()) << ws.response().head.raw;
    const int seconds = std::stoi(*retry);
    EXPECT_GE(seconds, 1) << *retry;
    EXPECT_LE(seconds, 10) << *retry;
    expect_refused(ws, 503, log());
  }
  EXPECT_LT(Clock::now() - start, 5s) << "a refusal took too long";
}

TEST(backend_handshake_no_healthy, H11_FailTimeoutZeroNeverMarksDown) {
  const std::uint16_t dead = free_port();
  Gateway gw(pool({dead}, "    fail_timeout: 0ms\n"), 2);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    WsClient ws = gw.open("/chat");
    EXPECT_EQ(ws.response().header("Retry-After"), std::nullopt);
    expect_refused(ws, 502, gw.process().stderr_text());
  }
}

}  // namespace
}  // namespace wsgate::test
