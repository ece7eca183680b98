// Fan-out streams through the real wsgate: one upstream per channel
// however many subscribers, every message to every subscriber in order, the
// upstream's lifecycle (linger, reconnect, on_connect_send, failover), slow
// subscribers, and process faults of the feeder and the workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string stream_config(const std::string& sources, const std::string& extra = "", const std::string& path = "/fx") {
  return "streams:\n  fx:\n    source: " + sources + "\n" + extra + "routes:\n  - { path: " + path + ", stream: fx }\n";
}

FeedMessage next_feed(WsClient& c, milliseconds timeout = 5000ms) {
  Message m = c.recv_message(timeout);
  if (m.opcode != kText) {
    throw TestIoError("expected a text feed message, got opcode " + std::to_string(m.opcode));
  }
  std::optional<FeedMessage> f = parse_feed_message(m.payload);
  if (!f) {
    throw TestIoError("not a feed message: " + m.payload.substr(0, 120));
  }
  return *f;
}

// A subscriber's view: its first seq and whether every later one came once,
// in order, with none missing.
struct Tracker {
  uint64_t first = 0, last = 0, count = 0;
  std::string broken;  // the first violation, for the failure message
  void take(const FeedMessage& m) {
    if (count > 0 && m.seq != last + 1 && broken.empty()) {
      broken = "after seq " + std::to_string(last) + " came " + std::to_string(m.seq);
    }
    first = count == 0 ? m.seq : first;
    last = m.seq;
    ++count;
  }
};

// Reads until a message with seq >= target; every message is checked.
Tracker read_until(WsClient& c, uint64_t target, milliseconds timeout = 10000ms) {
  Tracker t;
  auto deadline = Clock::now() + timeout;
  while (t.last < target) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      throw TestIoError("seq " + std::to_string(target) + " did not arrive; last " + std::to_string(t.last));
    }
    t.take(next_feed(c, left));
  }
  return t;
}

std::vector<WsClient> subscribe(const Gateway& gw, int n, const std::string& path = "/fx") {
  std::vector<WsClient> subs;
  for (int i = 0; i < n; ++i) {
    try {
      subs.push_back(gw.open(path));
    } catch (const TestIoError& e) {
      ADD_FAILURE() << "subscriber " << i << ": " << e.what();
      break;
    }
    if (!subs.back().handshake_ok()) {
      ADD_FAILURE() << "subscriber " << i << ": " << subs.back().handshake_error();
      break;
    }
  }
  return subs;
}

// The channel once it has `n` subscribers and its upstream is up.
std::optional<ChannelStatus> wait_subscribers(const Gateway& gw, long n, const std::string& path = "") {
  Status s = gw.wait_status(
      [&](const Status& st) {
        const ChannelStatus* c = st.channel("fx", path);
        return c != nullptr && c->subscribers == n && c->upstream == "up";
      },
      20000ms);
  const ChannelStatus* c = s.channel("fx", path);
  return c != nullptr && c->subscribers == n ? std::optional<ChannelStatus>(*c) : std::nullopt;
}

TEST(Stream, ThousandSubscribersShareOneUpstreamAndGetEveryMessageInOrder) {
  // 50 messages/s to 1,000 subscribers is 50,000 deliveries/s: a correctness
  // test that an ASan build keeps up with; speed is the benchmark's job.
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/live")), 2);
  std::vector<WsClient> subs = subscribe(gw, 1000);
  ASSERT_EQ(subs.size(), 1000u);
  std::optional<ChannelStatus> ch = wait_subscribers(gw, 1000);
  ASSERT_TRUE(ch.has_value());
  ASSERT_EQ(ch->per_worker.size(), 3u);  // two workers and the feeder's slot
  EXPECT_GT(ch->per_worker[0], 0);
  EXPECT_GT(ch->per_worker[1], 0);
  const uint64_t target = feed.stats().channel("/live").seq + 50;
  for (size_t i = 0; i < subs.size(); ++i) {
    Tracker t = read_until(subs[i], target, 20000ms);
    ASSERT_TRUE(t.broken.empty()) << "subscriber " << i << ": " << t.broken;
  }
  FeedStats fs = feed.stats();
  EXPECT_EQ(fs.connections_total, 1u) << "the source saw more than one connection";
  EXPECT_EQ(fs.connections_open, 1u);
}

TEST(Stream, OnConnectSendArrivesOnFirstConnectAndAfterEveryReconnect) {
  ::setenv("WSGATE_TEST_FEED_KEY", "k-123", 1);
  FeedSource feed("fx", 100);
  Gateway gw(
      stream_config(feed.url("/live"),
                    "    on_connect_send:\n      - '{\"userKey\":\"${WSGATE_TEST_FEED_KEY}\",\"ch\":\"${path}\"}'\n"
                    "      - second\n"),
      2);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok()) << sub.handshake_error();
  FeedStats fs = feed.wait_stats([](const FeedStats& s) { return s.received.size() >= 2; });
  ASSERT_EQ(fs.texts("/live"), (std::vector<std::string>{"{\"userKey\":\"k-123\",\"ch\":\"\"}", "second"}));
  uint64_t before = next_feed(sub).seq;
  feed.drop();
  fs = feed.wait_stats([](const FeedStats& s) { return s.received.size() >= 4 && s.connections_open == 1; }, 10000ms);
  ASSERT_EQ(fs.received.size(), 4u);
  EXPECT_EQ(fs.received[2].text, fs.received[0].text);
  EXPECT_EQ(fs.received[3].text, "second");
  EXPECT_EQ(fs.connections_total, 2u);
  // The subscriber never noticed: still open, and the stream goes on.
  Tracker t = read_until(sub, feed.stats().channel("/live").seq + 20);
  EXPECT_GT(t.last, before);
}

TEST(Stream, SubscribersStayWhileTheSourceIsDownAndResumeAfter) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_config(feed.url("/live"), "    backoff_max: 500ms\n"), 2);
  std::vector<WsClient> subs = subscribe(gw, 10);
  wait_subscribers(gw, 10);
  for (auto& s : subs) {
    read_until(s, 60);  // past the seqs a restarted source begins with
  }
  feed.kill();
  std::this_thread::sleep_for(700ms);  // a few failed reconnects
  feed.restart();
  for (size_t i = 0; i < subs.size(); ++i) {
    // The restarted source counts from 1 again; what matters is that the
    // same connections receive it, in order.
    bool fresh = false;
    auto deadline = Clock::now() + 10s;
    while (!fresh && Clock::now() < deadline) {
      fresh = next_feed(subs[i], 10000ms).seq < 50;
    }
    EXPECT_TRUE(fresh) << "subscriber " << i << " did not get the restarted feed";
  }
  EXPECT_EQ(feed.stats().connections_open, 1u);
}

TEST(Stream, FeederKilledSubscribersStayConnectedAndReceiveAgain) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_config(feed.url("/live")), 2);
  std::vector<WsClient> subs = subscribe(gw, 10);
  wait_subscribers(gw, 10);
  int feeder = gw.status().pid_of("feeder");
  ASSERT_GT(feeder, 0);
  ASSERT_EQ(::kill(feeder, SIGKILL), 0);
  gw.wait_status([&](const Status& s) { return s.pid_of("feeder") > 0 && s.pid_of("feeder") != feeder; }, 10000ms);
  feed.wait_stats([](const FeedStats& s) { return s.connections_total == 2 && s.connections_open == 1; }, 10000ms);
  uint64_t target = feed.stats().channel("/live").seq + 20;
  for (size_t i = 0; i < subs.size(); ++i) {
    Tracker t;
    // Messages before the kill are still queued; the stream must reach past it.
    ASSERT_NO_THROW(t = read_until(subs[i], target, 15000ms)) << "subscriber " << i;
  }
  EXPECT_EQ(feed.stats().connections_open, 1u);
}

TEST(Stream, WorkerKilledOnlyItsSubscribersAreAffected) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_config(feed.url("/live")), 2);
  std::vector<WsClient> subs = subscribe(gw, 20);
  std::optional<ChannelStatus> ch = wait_subscribers(gw, 20);
  ASSERT_TRUE(ch.has_value());
  const long on_victim = ch->per_worker[0];
  ASSERT_GT(on_victim, 0);
  ASSERT_LT(on_victim, 20);
  for (auto& s : subs) {
    next_feed(s);
  }
  ASSERT_EQ(::kill(gw.status().worker_pids[0], SIGKILL), 0);
  // The master takes the dead worker's subscribers out of the count.
  gw.wait_status([&](const Status& s) {
    const ChannelStatus* c = s.channel("fx");
    return c != nullptr && c->subscribers == 20 - on_victim;
  });
  uint64_t target = feed.stats().channel("/live").seq + 30;
  long survivors = 0, cut = 0;
  for (auto& s : subs) {
    try {
      Tracker t = read_until(s, target);
      EXPECT_TRUE(t.broken.empty()) << t.broken;
      ++survivors;
    } catch (const TestIoError&) {
      ++cut;
      EXPECT_TRUE(s.peer_closed());
    }
  }
  EXPECT_EQ(cut, on_victim);
  EXPECT_EQ(survivors, 20 - on_victim);
  EXPECT_EQ(feed.stats().connections_total, 1u);
}

TEST(Stream, PerPathChannelsEachHaveTheirOwnUpstreamAndNoCrossTalk) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_config(feed.url("/"), "    channels: per_path\n    max_channels: 4\n"), 2);
  WsClient eur1 = gw.open("/fx/EURUSD"), gbp = gw.open("/fx/GBPUSD"), eur2 = gw.open("/fx/EURUSD?x=1");
  ASSERT_TRUE(eur1.handshake_ok() && gbp.handshake_ok() && eur2.handshake_ok());
  FeedStats fs = feed.wait_stats([](const FeedStats& s) { return s.connections_open == 2; });
  EXPECT_EQ(fs.connections_total, 2u);
  EXPECT_EQ(fs.channel("/fx/EURUSD").open, 1u);
  EXPECT_EQ(fs.channel("/fx/GBPUSD").open, 1u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(next_feed(eur1).path, "/fx/EURUSD");
    EXPECT_EQ(next_feed(eur2).path, "/fx/EURUSD");
    EXPECT_EQ(next_feed(gbp).path, "/fx/GBPUSD");
  }
  Status st = gw.status();
  ASSERT_NE(st.channel("fx", "/fx/EURUSD"), nullptr);
  EXPECT_EQ(st.channel("fx", "/fx/EURUSD")->subscribers, 2);
  EXPECT_EQ(st.channel("fx", "/fx/GBPUSD")->subscribers, 1);
}

TEST(Stream, PerPathChannelTableFullIsA503) {
  FeedSource feed("fx", 10);
  Gateway gw(stream_config(feed.url("/"), "    channels: per_path\n    max_channels: 2\n"), 2);
  WsClient a = gw.open("/fx/a"), b = gw.open("/fx/b");
  ASSERT_TRUE(a.handshake_ok() && b.handshake_ok());
  WsClient c = gw.open("/fx/c");
  EXPECT_EQ(c.status(), 503);
  EXPECT_TRUE(c.response().header("Retry-After").has_value());
  WsClient a2 = gw.open("/fx/a");  // a path that has its channel still joins it
  EXPECT_TRUE(a2.handshake_ok());
}

TEST(Stream, UpstreamClosesAfterLingerAndPerPathChannelIsFreed) {
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/"), "    channels: per_path\n    max_channels: 1\n    linger: 300ms\n"), 2);
  {
    WsClient a = gw.open("/fx/a");
    ASSERT_TRUE(a.handshake_ok());
    next_feed(a);
    a.close();
    a.expect_close();
  }
  FeedStats fs = feed.wait_stats([](const FeedStats& s) { return s.connections_open == 0; }, 5000ms);
  EXPECT_EQ(fs.connections_open, 0u) << "the upstream outlived linger";
  // The only channel is free again: another path can have it.
  gw.wait_status([](const Status& s) { return s.channels.empty(); });
  WsClient b = gw.open("/fx/b");
  ASSERT_TRUE(b.handshake_ok()) << b.status();
  EXPECT_EQ(next_feed(b).path, "/fx/b");
}

TEST(Stream, AlwaysOnConnectsWithoutSubscribers) {
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/live"), "    always_on: true\n    linger: 0ms\n"), 1);
  FeedStats fs = feed.wait_stats([](const FeedStats& s) { return s.connections_open == 1; });
  EXPECT_EQ(fs.connections_open, 1u);
}

TEST(Stream, SourcesAreTriedInOrder) {
  FeedSource feed("fx", 50);
  const std::string dead = "ws://127.0.0.1:" + std::to_string(free_port()) + "/live";
  const std::string refusing = feed.url("/live?reject=401");
  Gateway gw(stream_config("['" + dead + "', '" + refusing + "', '" + feed.url("/live") + "']"), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok());
  EXPECT_EQ(next_feed(sub, 10000ms).path, "/live");
  EXPECT_TRUE(gw.process().has_output("HTTP 401"));
}

TEST(Stream, HistoryIsReplayedToANewSubscriberFirst) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_config(feed.url("/live"), "    history: 5\n"), 1);
  WsClient first = gw.open("/fx");
  ASSERT_TRUE(first.handshake_ok());
  Tracker early = read_until(first, 30);
  WsClient late = gw.open("/fx");
  ASSERT_TRUE(late.handshake_ok());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 8; ++i) {
    seqs.push_back(next_feed(late).seq);
  }
  for (size_t i = 1; i < seqs.size(); ++i) {
    EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  }
  // The replay starts about five behind what `first` had seen by then.
  EXPECT_LE(seqs[0], early.last + 5);
}

TEST(Stream, SubscriberMessagesAreDroppedAndPingsAnswered) {
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/live")), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok());
  sub.send_text("hello source");
  sub.ping("are you there");
  bool pong = false;
  for (int i = 0; i < 50 && !pong; ++i) {
    Message m = sub.recv_message();
    pong = m.opcode == kPong && m.payload == "are you there";
  }
  EXPECT_TRUE(pong);
  next_feed(sub);
  EXPECT_TRUE(feed.stats().texts("/live").empty()) << "a subscriber's message reached the source";
}

TEST(Stream, ClientMessagesCloseIsA1003) {
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/live"), "    client_messages: close\n"), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok());
  sub.send_text("hello");
  EXPECT_EQ(sub.expect_close().code, 1003);
}

TEST(Stream, InvalidFrameFromASubscriberIsA1002) {
  FeedSource feed("fx", 50);
  Gateway gw(stream_config(feed.url("/live")), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok());
  sub.send_raw_frame(RawFrame::of(kText, "unmasked").unmasked());
  EXPECT_EQ(sub.expect_close().code, 1002);
}

// A subscriber that stops reading must not hold the others back; its own
// queue is bounded (subscriber_queue) and the policy decides what it loses.
void slow_subscriber_case(const std::string& policy, bool expect_close) {
  // 4 MB/s: the slow one's kernel buffers and queue fill within two seconds,
  // an ASan build reads it easily, and the ring holds a minute of it.
  FeedSource feed(FeedSourceOptions{.name = "fx", .rate = 500, .size = 8192});
  Gateway gw("limits:\n  close_timeout: 60s\n" + stream_config(feed.url("/live"),
                                                               "    ring: 256MiB\n    subscriber_queue: 256KiB\n"
                                                               "    slow_subscriber: " +
                                                                   policy + "\n"),
             1);
  WsClient slow = gw.open("/fx");
  WsClient fast = gw.open("/fx");
  ASSERT_TRUE(slow.handshake_ok() && fast.handshake_ok());
  slow.set_read_while_sending(false);
  // The fast one reads 5 s of stream (20 MB) while the slow one reads nothing,
  // far past what the kernel buffers and the 256 KiB queue hold.
  uint64_t start = next_feed(fast).seq;
  Tracker t = read_until(fast, start + 2500, 60000ms);
  EXPECT_TRUE(t.broken.empty()) << "the fast subscriber lost messages: " << t.broken;
  if (expect_close) {
    CloseInfo ci = slow.expect_close(20000ms);
    EXPECT_EQ(ci.code, 1008);
    return;
  }
  Tracker s;
  for (int i = 0; i < 100000 && s.broken.empty(); ++i) {
    s.take(next_feed(slow));
  }
  EXPECT_FALSE(s.broken.empty()) << "no gap: the slow subscriber's queue was not bounded";
  // ... and it is still subscribed, getting the live stream.
  uint64_t now = feed.stats().channel("/live").seq;
  EXPECT_NO_THROW(read_until(slow, now, 20000ms));
}

TEST(Stream, SlowSubscriberDropOldestLosesMessagesNotTheOthers) { slow_subscriber_case("drop_oldest", false); }

TEST(Stream, SlowSubscriberCloseGets1008) { slow_subscriber_case("close", true); }

}  // namespace
}  // namespace wsgate::test
