// Keep-alive through the real wsgate (routes[].ping_interval, pong_timeout):
// a quiet client that answers pings is kept for as long as it likes (R5), a
// half-open one is found and cut, and its session uncounted (R3), on pool
// routes and stream routes alike; wsgate's own pongs never reach a backend,
// while the client's and the backend's pings and pongs are relayed as before.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view kPrefix = "wsgate keepalive ";
// ping_interval 1s, pong_timeout 500ms on the routes below; bounds are generous.
constexpr auto kInterval = 1000ms;
constexpr auto kPongTimeout = 500ms;
constexpr auto kMargin = 2000ms;

const std::string kRoutes =
    "routes:\n"
    "  - { path: /chat, pool: chat, ping_interval: 1s, pong_timeout: 500ms }\n"
    "  - { path: /quiet, pool: chat }\n";  // the default: no pings

milliseconds since(Clock::time_point t) { return std::chrono::duration_cast<milliseconds>(Clock::now() - t); }

bool is_keepalive_ping(const Frame& f) { return f.opcode == kPing && f.payload.starts_with(kPrefix); }

// Reads for `how_long`, answering wsgate's pings as a browser would;
// anything else is a failure. Returns how many pings came.
int answer_pings_for(WsClient& ws, milliseconds how_long) {
  int pings = 0;
  const auto end = Clock::now() + how_long;
  while (Clock::now() < end) {
    const auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now());
    std::optional<Frame> f = ws.try_recv_frame(std::max(left, 1ms));
    if (!f) continue;
    EXPECT_TRUE(is_keepalive_ping(*f)) << "opcode " << int(f->opcode) << " \"" << f->payload << "\"";
    ++pings;
    ws.pong(f->payload);
  }
  return pings;
}

// The next frame that is not one of wsgate's pings (those are answered).
Frame next_frame(WsClient& ws, milliseconds timeout = 5000ms) {
  for (;;) {
    Frame f = ws.recv_frame(timeout);
    if (!is_keepalive_ping(f)) return f;
    ws.pong(f.payload);
  }
}

void expect_frame(WsClient& ws, std::uint8_t opcode, const std::string& payload) {
  const Frame f = next_frame(ws);
  EXPECT_EQ(f.opcode, opcode) << "payload \"" << f.payload << "\"";
  EXPECT_EQ(f.payload, payload);
}

// A half-open client's view once wsgate gave up on it: the ping it never
// answered, a close 1001 it was not waited for, then the end of TCP.
void expect_ping_then_cut(WsClient& ws) {
  const Frame ping = ws.recv_frame();
  EXPECT_TRUE(is_keepalive_ping(ping)) << "opcode " << int(ping.opcode) << " \"" << ping.payload << "\"";
  const CloseInfo c = ws.expect_close();
  EXPECT_EQ(c.code, 1001);
  EXPECT_EQ(c.reason, "ping timeout");
  EXPECT_EQ(c.skipped, 0u);
  ws.wait_eof();
}

// ---------------------------------------------------------------- pool routes

class KeepaliveTest : public ::testing::Test {
 protected:
  EchoBackend be_{"alpha"};
  Gateway gw_{pool_yaml("chat", {be_.port()}) + kRoutes, 2};

  void TearDown() override {
    const ExitStatus st = gw_.process().stop(10s);
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("protocol error", Match::kSubstring, Stream::kStderr))
        << be_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("peer closed TCP without a close frame", Match::kSubstring, Stream::kStderr))
        << "wsgate dropped a backend without a close:\n"
        << be_.process().stderr_text();
  }

  WsClient open(const std::string& path = "/chat") {
    WsClient ws = gw_.open(path);
    EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    return ws;
  }

  Status wait_sessions(long n, milliseconds timeout = 5000ms) {
    return gw_.wait_status([n](const Status& st) { return st.total_sessions() == n; }, timeout);
  }

  void close_cleanly(WsClient& ws) {
    ws.close(1000, "done");
    const Frame f = next_frame(ws);
    EXPECT_EQ(f.opcode, kClose);
    ws.wait_eof();
  }
};

using keepalive = KeepaliveTest;

TEST_F(keepalive, AnIdleClientThatAnswersPingsStaysAndItsPongsStayWithWsgate) {
  WsClient ws = open();
  ws.send_text("hello");
  expect_frame(ws, kText, "hello");
  const int pings = answer_pings_for(ws, 4 * kInterval);
  EXPECT_GE(pings, 3) << "one ping per second of silence";
  EXPECT_LE(pings, 5);
  EXPECT_FALSE(ws.peer_closed());
  ws.send_text("still here");
  expect_frame(ws, kText, "still here");
  ws.send_text("pongs");
  expect_frame(ws, kText, "pongs:0");  // the backend never saw an answer to wsgate's pings
  EXPECT_EQ(wait_sessions(1).total_sessions(), 1);
  close_cleanly(ws);
  EXPECT_EQ(wait_sessions(0).total_sessions(), 0);
}

TEST_F(keepalive, AHalfOpenClientIsCutAndTheBackendGets1001) {
  WsClient ws = open();
  ws.send_text("hello");
  expect_frame(ws, kText, "hello");
  const auto silent_since = Clock::now();
  ASSERT_EQ(wait_sessions(1).total_sessions(), 1);
  // From here the client neither reads nor writes: its socket stays open,
  // as a pulled cable leaves it. Only the counts are watched.
  const Status st = wait_sessions(0, kInterval + kPongTimeout + kMargin + 2000ms);
  const milliseconds took = since(silent_since);
  EXPECT_EQ(st.total_sessions(), 0) << gw_.process().stderr_text();
  EXPECT_GE(took, kInterval + kPongTimeout - 100ms) << "cut before its pong could have come";
  EXPECT_LE(took, kInterval + kPongTimeout + kMargin);
  be_.process().wait_for_output("peer sent close 1001;", 5s, Match::kSubstring, Stream::kStderr);
  EXPECT_TRUE(gw_.process().has_output("closing it as half-open")) << gw_.process().stderr_text();
  expect_ping_then_cut(ws);
}

TEST_F(keepalive, AClientThatTalksIsNeverPinged) {
  WsClient ws = open();
  const auto start = Clock::now();
  for (int i = 0; since(start) < 3 * kInterval; ++i) {
    ws.send_text("tick " + std::to_string(i));
    const Frame f = ws.recv_frame();
    ASSERT_EQ(f.opcode, kText) << "payload \"" << f.payload << "\"";
    ASSERT_EQ(f.payload, "tick " + std::to_string(i));
    ASSERT_FALSE(ws.try_recv_frame(300ms).has_value()) << "a ping to a client that is not quiet";
  }
  close_cleanly(ws);
}

TEST_F(keepalive, NoPingIsEverSentWhenPingIntervalIsOff) {
  WsClient ws = open("/quiet");
  ws.send_text("hello");
  expect_frame(ws, kText, "hello");
  const std::optional<Frame> f = ws.try_recv_frame(2500ms);
  EXPECT_FALSE(f.has_value()) << "opcode " << int(f->opcode) << " \"" << f->payload << "\"";
  ws.send_text("still here");
  expect_frame(ws, kText, "still here");
  close_cleanly(ws);
  EXPECT_EQ(wait_sessions(0).total_sessions(), 0);
}

TEST_F(keepalive, ClientAndBackendPingsAndPongsAreStillRelayedEndToEnd) {
  WsClient ws = open();
  ws.ping("are you there?");
  expect_frame(ws, kPong, "are you there?");  // the backend's answer
  ws.pong("unsolicited");
  ws.pong("wsgate");  // close to wsgate's payload, but not it
  ws.send_text("pongs");
  expect_frame(ws, kText, "pongs:2");
  ws.send_text("ping:abc");
  expect_frame(ws, kPing, "abc");
  ws.pong("abc");
  expect_frame(ws, kText, "pong:abc");  // the backend got the client's pong, payload intact
  // And a keep-alive round trip in between changes none of it.
  EXPECT_GE(answer_pings_for(ws, 2 * kInterval), 1);
  ws.ping("again");
  expect_frame(ws, kPong, "again");
  ws.send_text("pongs");
  expect_frame(ws, kText, "pongs:3");
  close_cleanly(ws);
}

// ---------------------------------------------------------------- stream routes

TEST(KeepaliveStream, SubscribersArePingedAndASilentOneIsDropped) {
  FeedSource feed("fx", 0);  // rate 0: an idle stream, so only pings move
  Gateway gw("streams:\n  fx:\n    source: " + feed.url("/live") +
                 "\nroutes:\n  - { path: /fx, stream: fx, ping_interval: 1s, pong_timeout: 500ms }\n",
             2);
  WsClient live = gw.open("/fx");
  WsClient silent = gw.open("/fx");
  ASSERT_TRUE(live.handshake_ok()) << live.handshake_error();
  ASSERT_TRUE(silent.handshake_ok()) << silent.handshake_error();
  const auto start = Clock::now();
  const auto subscribers = [](long n) {
    return [n](const Status& st) {
      const ChannelStatus* c = st.channel("fx");
      return c != nullptr && c->subscribers == n;
    };
  };
  ASSERT_TRUE(subscribers(2)(gw.wait_status(subscribers(2)))) << gw.process().stderr_text();

  // `live` answers for over three intervals; `silent` never does.
  const int pings = answer_pings_for(live, 4 * kInterval);
  EXPECT_GE(pings, 3);
  EXPECT_LE(pings, 5);
  // `live` keeps answering while we look: a status call can take a while on
  // a loaded machine, longer than its own pong_timeout.
  Status st = gw.status();
  for (const auto deadline = Clock::now() + 5000ms; !subscribers(1)(st) && Clock::now() < deadline;) {
    answer_pings_for(live, 200ms);
    st = gw.status();
  }
  EXPECT_TRUE(subscribers(1)(st)) << "the silent subscriber is still counted\n" << gw.process().stderr_text();
  EXPECT_LE(since(start), 4 * kInterval + 5000ms);
  EXPECT_TRUE(gw.process().has_output("closing it as half-open")) << gw.process().stderr_text();
  expect_ping_then_cut(silent);

  // The one that answered is still served: wsgate answers its ping.
  live.ping("me");
  const Frame f = next_frame(live);
  EXPECT_EQ(f.opcode, kPong);
  EXPECT_EQ(f.payload, "me");
  live.close(1000);
  EXPECT_EQ(next_frame(live).opcode, kClose);
  live.wait_eof();
  EXPECT_TRUE(subscribers(0)(gw.wait_status(subscribers(0))));
  const ExitStatus exit = gw.process().stop(10s);
  EXPECT_TRUE(exit.ok()) << exit.describe() << "\n" << gw.process().stderr_text();
}

TEST(KeepaliveStream, ASilentSubscriberIsCutWithinPingIntervalAndPongTimeout) {
  FeedSource feed("fx", 0);
  Gateway gw("streams:\n  fx:\n    source: " + feed.url("/live") +
                 "\nroutes:\n  - { path: /fx, stream: fx, ping_interval: 1s, pong_timeout: 500ms }\n",
             1);
  WsClient silent = gw.open("/fx");
  ASSERT_TRUE(silent.handshake_ok()) << silent.handshake_error();
  const auto opened = Clock::now();
  const auto none = [](const Status& st) {
    const ChannelStatus* c = st.channel("fx");
    return c == nullptr || c->subscribers == 0;
  };
  // Counted first, then not any more once it is given up.
  gw.wait_status([](const Status& st) { return st.channel("fx") != nullptr && st.channel("fx")->subscribers == 1; });
  const Status st = gw.wait_status(none, kInterval + kPongTimeout + kMargin + 2000ms);
  const milliseconds took = since(opened);
  EXPECT_TRUE(none(st)) << gw.process().stderr_text();
  EXPECT_GE(took, kInterval + kPongTimeout - 100ms);
  EXPECT_LE(took, kInterval + kPongTimeout + kMargin);
  expect_ping_then_cut(silent);
  const ExitStatus exit = gw.process().stop(10s);
  EXPECT_TRUE(exit.ok()) << exit.describe() << "\n" << gw.process().stderr_text();
}

}  // namespace
}  // namespace wsgate::test
