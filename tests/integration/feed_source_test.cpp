// Proves the feed source (and its message codec and FeedSource fixture)
// with direct subscribers and no wsgate in between, so fan-out tests and
// benchmarks can trust what it sends and what /_stats reports.
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/feed_message.h"
#include "tests/support/feed_stats.h"
#include "tests/support/process.h"
#include "tests/support/ws_client.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- codec

TEST(FeedMessageTest, FormatsExactSizeAndParsesBack) {
  const FeedMessage m{42, 123456789012345, "/live", "alpha"};
  for (std::size_t size : {80u, 128u, 1000u}) {
    const std::string text = format_feed_message(m, size);
    EXPECT_EQ(text.size(), size);
    EXPECT_TRUE(text.starts_with(R"({"seq":42,"t":123456789012345,"path":"/live","src":"alpha")")) << text;
    const auto back = parse_feed_message(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, m);
  }
  EXPECT_EQ(format_feed_message({1, 2, "/p", "s"}, 64),
            R"({"seq":1,"t":2,"path":"/p","src":"s","pad":"xxxxxxxxxxxxxxxxxx"})");
}

TEST(FeedMessageTest, LongFixedPartGetsAnEmptyPad) {
  const FeedMessage m{1, 2, "/" + std::string(100, 'p'), "src"};
  const std::string text = format_feed_message(m, 64);
  EXPECT_GT(text.size(), 64u);
  EXPECT_TRUE(text.ends_with(R"(,"pad":""})")) << text;
  EXPECT_EQ(parse_feed_message(text), m);
}

TEST(FeedMessageTest, EscapesPathAndNameRoundTrip) {
  const FeedMessage m{7, 8, "/a\"b\\c\nd\x01\xc3\xa9", "n\"ame\t"};
  const std::string text = format_feed_message(m, 128);
  EXPECT_EQ(text.size(), 128u);
  EXPECT_NE(text.find(R"("path":"/a\"b\\c\nd\u0001)"
                      "\xc3\xa9"
                      R"(")"),
            std::string::npos)
      << text;
  EXPECT_EQ(parse_feed_message(text), m);
  // The usual JSON escapes a relay might never produce are still read.
  const auto other = parse_feed_message(R"({"seq":1,"t":2,"path":"\/x\u00e9\ud83d\ude00","src":"s","pad":""})");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->path, "/x\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(FeedMessageTest, RejectsAnythingElse) {
  const std::string good = format_feed_message({3, 4, "/p", "s"}, 80);
  ASSERT_TRUE(parse_feed_message(good));
  std::string bad_pad = good;
  bad_pad[bad_pad.size() - 4] = 'y';
  for (const std::string& text : std::vector<std::string>{
           "", "{}", good.substr(0, good.size() - 1), good + " ", bad_pad,
           R"({"seq":01,"t":2,"path":"/p","src":"s","pad":""})", R"({"seq":-1,"t":2,"path":"/p","src":"s","pad":""})",
           R"({"seq":1,"t":2,"src":"s","path":"/p","pad":""})", R"({"seq":1, "t":2,"path":"/p","src":"s","pad":""})",
           R"({"seq":1,"t":2,"path":"/p\q","src":"s","pad":""})",
           R"({"seq":1,"t":2,"path":"/p\udc00","src":"s","pad":""})",
           R"({"seq":99999999999999999999,"t":2,"path":"/p","src":"s","pad":""})"})
    EXPECT_FALSE(parse_feed_message(text)) << text;
}

TEST(FeedMessageTest, JsonEscapeKeepsUtf8AndEscapesTheRest) {
  EXPECT_EQ(json_escape("plain \xc3\xa9\xe2\x82\xac"), "plain \xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(json_escape("q\"b\\\r\n\t\x1f"), R"(q\"b\\\r\n\t\u001f)");
  // Invalid UTF-8 (lone continuation, overlong, truncated) becomes \u00XX.
  EXPECT_EQ(json_escape("\x80\xc0\xaf\xe2\x82"), R"(\u0080\u00c0\u00af\u00e2\u0082)");
}

TEST(FeedStatsTest, ParsesChannelsWithDotsAndEscapedTexts) {
  const FeedStats s =
      parse_feed_stats(R"({"connections_total":3,"connections_open":1,"slow_drops":0,)"
                       R"("channels":{"/a.b":{"open":1,"seq":9},"/c":{"open":0,"seq":2}},"received_total":1,)"
                       R"("received":[{"conn":2,"path":"/a.b","text":"sub \"x\"\n\u00e9"}]})");
  EXPECT_EQ(s.connections_total, 3u);
  EXPECT_EQ(s.connections_open, 1u);
  EXPECT_EQ(s.channel("/a.b").seq, 9u);
  EXPECT_EQ(s.channel("/c").open, 0u);
  EXPECT_EQ(s.channel("/never").seq, 0u);
  ASSERT_EQ(s.received.size(), 1u);
  EXPECT_EQ(s.received[0].conn, 2u);
  EXPECT_EQ(s.received[0].text, "sub \"x\"\n\xc3\xa9");
  EXPECT_EQ(s.texts("/a.b"), std::vector<std::string>{"sub \"x\"\n\xc3\xa9"});
  EXPECT_THROW(parse_feed_stats("{\"connections_total\":"), TestIoError);
}

// ---------------------------------------------------------------- the source

WsClient subscribe(const FeedSource& feed, const std::string& path) {
  WsClient ws = feed.open(path);
  EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  return ws;
}

FeedMessage next_message(WsClient& ws, std::size_t size, milliseconds timeout = 2000ms) {
  const Message m = ws.recv_message(timeout);
  EXPECT_EQ(m.opcode, kText);
  EXPECT_EQ(m.frames, 1u);
  EXPECT_EQ(m.payload.size(), size) << m.payload;
  const auto parsed = parse_feed_message(m.payload);
  if (!parsed) throw TestIoError("not a feed message: " + m.payload);
  return *parsed;
}

// Every test ends with a graceful stop that must exit 0 (under ASan a leak
// or an error report turns into a non-zero exit here).
void expect_clean_stop(FeedSource& feed) {
  ChildProcess& p = feed.process();
  if (!p.running()) return;
  const ExitStatus st = p.stop();
  EXPECT_TRUE(st.ok()) << st.describe() << "\n" << p.stderr_text();
}

TEST(FeedSourceTest, SendsNumberedMessagesInOrder) {
  FeedSource feed("alpha", 1000, 200);
  WsClient ws = subscribe(feed, "/live?token=1");
  EXPECT_EQ(ws.response().header("X-Feed-Source"), "alpha");
  std::uint64_t last_t = 0;
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    const FeedMessage m = next_message(ws, 200);
    EXPECT_EQ(m.seq, seq);
    EXPECT_EQ(m.path, "/live");  // the query is not part of the channel
    EXPECT_EQ(m.src, "alpha");
    EXPECT_GE(m.t, last_t);
    EXPECT_LE(m.t, monotonic_ns());
    EXPECT_GT(m.t + 2'000'000'000, monotonic_ns());  // same clock, sent just now
    last_t = m.t;
  }
  const FeedStats s = feed.stats();
  EXPECT_EQ(s.connections_total, 1u);
  EXPECT_EQ(s.connections_open, 1u);
  EXPECT_EQ(s.channel("/live").open, 1u);
  EXPECT_GE(s.channel("/live").seq, 20u);
  ws.close();
  ws.expect_close();
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, RateIsRoughlyKept) {
  FeedSource feed("alpha", 200, 100);
  WsClient ws = subscribe(feed, "/r");
  const FeedMessage first = next_message(ws, 100);
  FeedMessage m = first;
  for (int i = 0; i < 40; ++i) m = next_message(ws, 100);
  // 40 intervals at 200/s: 200 ms, with slack for a loaded machine.
  const double ms = static_cast<double>(m.t - first.t) / 1e6;
  EXPECT_GT(ms, 150.0);
  EXPECT_LT(ms, 600.0);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, HighRatesWork) {
  FeedSource feed("fast", 100000, 100);
  WsClient ws = subscribe(feed, "/fast");
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 1; seq <= 20000; ++seq) ASSERT_EQ(next_message(ws, 100).seq, seq);
  // 20,000 at 100,000/s is 200 ms; a 1 ms tick alone could only do 1,000/s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, SubscribersOfOneChannelGetTheSameMessages) {
  FeedSource feed("alpha", 500, 100);
  WsClient a = subscribe(feed, "/live");
  EXPECT_EQ(next_message(a, 100).seq, 1u);
  WsClient b = subscribe(feed, "/live");
  std::vector<std::string> from_b;
  for (int i = 0; i < 5; ++i) from_b.push_back(b.recv_message(2000ms).payload);
  const std::uint64_t first_b = parse_feed_message(from_b[0])->seq;
  EXPECT_GT(first_b, 1u);  // b joined a running channel: no replay
  // a sees the very same bytes for the same sequence numbers.
  std::string from_a;
  do {
    from_a = a.recv_message(2000ms).payload;
  } while (parse_feed_message(from_a)->seq < first_b);
  EXPECT_EQ(from_a, from_b[0]);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(a.recv_message(2000ms).payload, from_b[i]);
  EXPECT_EQ(feed.stats().channel("/live").open, 2u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, ChannelsAreIndependent) {
  FeedSource feed("alpha", 1000, 100);
  WsClient a = subscribe(feed, "/a");
  for (std::uint64_t seq = 1; seq <= 10; ++seq) EXPECT_EQ(next_message(a, 100).seq, seq);
  WsClient b = subscribe(feed, "/b");
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    const FeedMessage m = next_message(b, 100);
    EXPECT_EQ(m.seq, seq);
    EXPECT_EQ(m.path, "/b");
  }
  EXPECT_EQ(next_message(a, 100).path, "/a");
  const FeedStats s = feed.stats();
  EXPECT_EQ(s.channels.size(), 2u);
  EXPECT_EQ(s.channel("/a").open, 1u);
  EXPECT_EQ(s.channel("/b").open, 1u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, SequencePersistsAcrossConnectionsAndPausesWhenIdle) {
  FeedSource feed("alpha", 1000, 100);
  {
    WsClient ws = subscribe(feed, "/live");
    for (int i = 0; i < 3; ++i) next_message(ws, 100);
    ws.close();
    ws.expect_close();
  }
  const FeedStats idle = feed.wait_stats([](const FeedStats& s) { return s.connections_open == 0; });
  ASSERT_EQ(idle.connections_open, 0u);
  const std::uint64_t seq = idle.channel("/live").seq;
  EXPECT_GE(seq, 3u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(feed.stats().channel("/live").seq, seq);  // nobody listening: no progress
  WsClient again = subscribe(feed, "/live");
  EXPECT_EQ(next_message(again, 100).seq, seq + 1);
  EXPECT_EQ(feed.stats().connections_total, 2u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, CountStopsEachChannel) {
  FeedSource feed("alpha", 1000, 100, 5);
  WsClient ws = subscribe(feed, "/live");
  for (std::uint64_t seq = 1; seq <= 5; ++seq) EXPECT_EQ(next_message(ws, 100).seq, seq);
  EXPECT_FALSE(ws.try_recv_frame(100ms));
  EXPECT_EQ(feed.stats().channel("/live").seq, 5u);
  WsClient other = subscribe(feed, "/other");
  for (std::uint64_t seq = 1; seq <= 5; ++seq) EXPECT_EQ(next_message(other, 100).seq, seq);
  EXPECT_FALSE(other.try_recv_frame(50ms));
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, RateZeroSendsNothing) {
  FeedSource feed("idle", 0);
  WsClient ws = subscribe(feed, "/live");
  EXPECT_FALSE(ws.try_recv_frame(100ms));
  EXPECT_EQ(feed.stats().channel("/live").seq, 0u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, RecordsWhatClientsSend) {
  FeedSource feed("alpha", 0);
  WsClient a = subscribe(feed, "/live");
  WsClient b = subscribe(feed, "/other");
  a.send_text(R"({"op":"subscribe","args":["BTC"]})");
  b.send_fragments(kText, {"sub \"q\"", "\n\xc3\xa9"});
  a.send_binary("bin");
  const FeedStats s = feed.wait_stats([](const FeedStats& s) { return s.received.size() >= 3; });
  ASSERT_EQ(s.received.size(), 3u);
  EXPECT_EQ(s.received_total, 3u);
  EXPECT_EQ(s.texts("/live"), (std::vector<std::string>{R"({"op":"subscribe","args":["BTC"]})", "bin"}));
  EXPECT_EQ(s.texts("/other"), std::vector<std::string>{"sub \"q\"\n\xc3\xa9"});
  for (const FeedReceived& r : s.received) EXPECT_EQ(r.conn, r.path == "/live" ? 1u : 2u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, DropResetsEveryWebSocketAndKeepsRunning) {
  FeedSource feed("alpha", 0);
  WsClient a = subscribe(feed, "/a");
  WsClient b = subscribe(feed, "/b");
  ASSERT_EQ(feed.stats().connections_open, 2u);
  feed.drop();
  // No close frame: the connection is reset.
  EXPECT_EQ(a.wait_eof(2000ms), PeerClosed::kReset);
  EXPECT_EQ(b.wait_eof(2000ms), PeerClosed::kReset);
  FeedStats s = feed.stats();
  EXPECT_EQ(s.connections_open, 0u);
  EXPECT_EQ(s.connections_total, 2u);
  EXPECT_EQ(s.channel("/a").open, 0u);
  WsClient c = subscribe(feed, "/a");
  s = feed.stats();
  EXPECT_EQ(s.connections_open, 1u);
  EXPECT_EQ(s.connections_total, 3u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, DropKeepsTheSequenceGoing) {
  FeedSource feed("alpha", 1000, 100);
  WsClient a = subscribe(feed, "/live");
  for (int i = 0; i < 3; ++i) next_message(a, 100);
  feed.drop();
  a.wait_eof(2000ms);
  const std::uint64_t seq = feed.stats().channel("/live").seq;
  WsClient b = subscribe(feed, "/live");
  EXPECT_EQ(next_message(b, 100).seq, seq + 1);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, RejectQueryAnswersThatStatus) {
  FeedSource feed("alpha");
  WsClient ws = feed.open("/live?reject=401");
  EXPECT_FALSE(ws.handshake_ok());
  EXPECT_EQ(ws.status(), 401);
  WsClient other = feed.open("/live?x=1&reject=503");
  EXPECT_EQ(other.status(), 503);
  EXPECT_EQ(feed.open("/live?reject=99").status(), 400);
  EXPECT_EQ(feed.stats().connections_total, 0u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, PlainHttpOtherThanControlIs404) {
  FeedSource feed("alpha");
  EXPECT_EQ(http_get(feed.port(), "/live").status, 404);
  EXPECT_EQ(http_get(feed.port(), "/_stats?pretty=1").status, 200);
  EXPECT_EQ(feed.stats().connections_total, 0u);  // HTTP requests are not subscribers
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, AnswersPingWithPong) {
  FeedSource feed("alpha", 0);
  WsClient ws = subscribe(feed, "/live");
  ws.ping("are you there");
  const Frame f = ws.recv_frame(2000ms);
  EXPECT_EQ(f.opcode, kPong);
  EXPECT_FALSE(f.masked);
  EXPECT_EQ(f.payload, "are you there");
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, EchoesCloseThenClosesTcp) {
  FeedSource feed("alpha", 1000);
  WsClient ws = subscribe(feed, "/live");
  next_message(ws, 128);
  ws.close(1000, "bye");
  const CloseInfo c = ws.expect_close(2000ms);  // skips messages already in flight
  EXPECT_EQ(c.code, 1000);
  EXPECT_EQ(c.reason, "bye");
  EXPECT_EQ(ws.wait_eof(2000ms), PeerClosed::kFin);
  EXPECT_EQ(feed.stats().connections_open, 0u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, UnmaskedClientFrameIsAProtocolError) {
  FeedSource feed("alpha", 0);
  WsClient ws = subscribe(feed, "/live");
  ws.send_frame(kText, "hello", true, /*mask=*/false);
  EXPECT_EQ(ws.expect_close(2000ms).code, 1002);
  feed.process().wait_for_output("unmasked frame from client", 2000ms);
  EXPECT_TRUE(feed.stats().received.empty());
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, DropsASubscriberThatStopsReading) {
  FeedSource feed("alpha", 2000, 65536);
  WsClient ws = subscribe(feed, "/firehose");  // and never reads
  feed.process().wait_for_output("dropping the slow subscriber", 5000ms);
  const FeedStats s = feed.stats();
  EXPECT_EQ(s.slow_drops, 1u);
  EXPECT_EQ(s.connections_open, 0u);
  expect_clean_stop(feed);
}

TEST(FeedSourceTest, SigtermClosesSubscribersWith1001) {
  FeedSource feed("alpha", 1000);
  WsClient ws = subscribe(feed, "/live");
  next_message(ws, 128);
  feed.process().send_signal(SIGTERM);
  EXPECT_EQ(ws.expect_close(2000ms).code, 1001);
  ws.close(1001);
  const ExitStatus st = feed.process().wait_exit(2000ms);
  EXPECT_TRUE(st.ok()) << st.describe();
}

TEST(FeedSourceTest, RestartKeepsThePortAndStartsOver) {
  FeedSourceOptions o;
  o.name = "beta";
  o.rate = 1000;
  o.size = 100;
  o.quiet = true;
  FeedSource feed(o);
  const std::uint16_t port = feed.port();
  EXPECT_EQ(feed.url("/live"), "ws://127.0.0.1:" + std::to_string(port) + "/live");
  {
    WsClient ws = subscribe(feed, "/live");
    for (int i = 0; i < 3; ++i) next_message(ws, 100);
    EXPECT_EQ(feed.kill().signal, SIGKILL);
    ws.wait_eof(2000ms);
  }
  feed.restart();
  EXPECT_EQ(feed.port(), port);
  WsClient ws = subscribe(feed, "/live");
  const FeedMessage m = next_message(ws, 100);
  EXPECT_EQ(m.seq, 1u);
  EXPECT_EQ(m.src, "beta");
  expect_clean_stop(feed);
}

}  // namespace
}  // namespace wsgate::test
