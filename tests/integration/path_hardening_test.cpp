// Issue 15, findings 2, 3, 4, 12 and 13, through the real wsgate: routes are
// matched on the normalised path and the backend gets that path; a path with
// no single meaning is refused; a per_path channel can neither rewrite the
// subscribe message nor leave the source's path; one client address cannot
// take every channel, and a channel nobody subscribes to gives way to a new
// path; a repeated Authorization never passes auth.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"
#include "tests/support/process.h"
#include "tests/support/ws_client.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kKey = "k3y-Sekr1t-7f9a2c";
const std::string kOtherKey = "0ther-Sekr1t-9b1d";
const std::string kVendorKey = "vendor-Sekr1t-41c";

std::string admin_auth_yaml(const TempDir& dir) {
  write_file(dir / "keys.txt", kKey + "\n" + kOtherKey + "\n");
  return "auth:\n  admins:\n    keys_file: " + (dir / "keys.txt").string() + "\n    from: header\n";
}

// What the backend received, from its `headers` command.
HttpHead backend_view(WsClient& ws) {
  ws.send_text("headers");
  return parse_head(ws.recv_message().payload + "\r\n\r\n");
}

std::string whoami(WsClient& ws) {
  ws.send_text("whoami");
  return ws.recv_message().payload;
}

// Connects, sends `bytes` as they are, reads one HTTP response.
HttpResponse send_request(const Gateway& gw, const std::string& bytes) {
  WsClient ws = WsClient::connect(gw.port());
  ws.send_raw(bytes);
  return ws.read_http_response();
}

std::string request_with(const std::string& path, const std::string& extra_lines) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra_lines + "\r\n";
}

// /app is open (pool "app"), /app/admin needs a key (pool "admin").
class PathRouting : public ::testing::Test {
 protected:
  PathRouting()
      : gw_(admin_auth_yaml(keys_dir_) + "pools:\n  app:\n    backends: ['127.0.0.1:" + std::to_string(app_.port()) +
                "']\n  admin:\n    backends: ['127.0.0.1:" + std::to_string(admin_.port()) +
                "']\nroutes:\n  - { path: /app, pool: app }\n  - { path: /app/admin, pool: admin, auth: admins }\n",
            1) {}

  TempDir keys_dir_{"wsgate-keys"};
  EchoBackend app_{"app"};
  EchoBackend admin_{"admin"};
  Gateway gw_;
};

// Finding 4: every spelling of /app/admin is /app/admin, auth included.
TEST_F(PathRouting, EverySpellingOfAGuardedPathNeedsItsKey) {
  for (const std::string path : {"/app/x/../admin", "/app/./admin", "/app/%61dmin", "/app//admin", "/app/%2e/admin",
                                 "/app/x/%2E%2E/admin/", "/app/admin"}) {
    SCOPED_TRACE(path);
    WsClient ws = gw_.open(path);
    EXPECT_EQ(ws.status(), 401) << ws.response().head.raw;
  }
  EXPECT_FALSE(admin_.process().has_output(": accepted")) << "a keyless request reached the admin backend";
  EXPECT_FALSE(app_.process().has_output(": accepted")) << "a request for /app/admin went to the open pool";
}

// Finding 4: the backend gets the path wsgate routed by, and the query as sent.
TEST_F(PathRouting, TheBackendGetsTheNormalisedPath) {
  WsClient admin = gw_.open("/app/x/../%61dmin/./users?id=%2E%2E&x=1", {{"Authorization", "Bearer " + kKey}});
  ASSERT_TRUE(admin.handshake_ok()) << admin.status() << " " << admin.handshake_error();
  EXPECT_EQ(whoami(admin), "admin");
  EXPECT_EQ(backend_view(admin).start_line, "GET /app/admin/users?id=%2E%2E&x=1 HTTP/1.1");

  WsClient open = gw_.open("/app/a/b/../c//d%7e%3a");
  ASSERT_TRUE(open.handshake_ok()) << open.status() << " " << open.handshake_error();
  EXPECT_EQ(whoami(open), "app");
  EXPECT_EQ(backend_view(open).start_line, "GET /app/a/c/d~%3A HTTP/1.1");

  WsClient above = gw_.open("/../../app/z");  // ".." above the root stays at the root
  ASSERT_TRUE(above.handshake_ok()) << above.status();
  EXPECT_EQ(backend_view(above).start_line, "GET /app/z HTTP/1.1");
}

// Finding 4: paths with no single meaning are refused before any route.
TEST_F(PathRouting, EncodedSlashesAndUnencodedOddBytesAre400) {
  for (const std::string path : {"/app%2Fadmin", "/app/x%2f..%2fadmin", "/app%5Cadmin", "/app\\admin", "/app/%zz",
                                 "/app/a\"b", "/app/a{b}", "/app/\xc3\xa9"}) {
    SCOPED_TRACE(path);
    const HttpResponse r = send_request(gw_, request_with(path, ""));
    EXPECT_EQ(r.status, 400) << r.head.raw << r.body;
  }
  EXPECT_FALSE(admin_.process().has_output(": accepted"));
  EXPECT_FALSE(app_.process().has_output(": accepted"));
}

// Finding 13: a second Authorization (the valid one first) is refused, as is
// any other repeated header wsgate decides on.
TEST_F(PathRouting, RepeatedAuthorizationAndOtherSingletonsAre400) {
  const std::string good = "Authorization: Bearer " + kKey + "\r\n";
  {
    const HttpResponse r = send_request(gw_, request_with("/app/admin", good));
    EXPECT_EQ(r.status, 101) << r.head.raw << r.body;
  }
  struct Case {
    std::string name, lines;
  };
  const std::vector<Case> cases = {
      {"Authorization twice", good + "Authorization: Bearer " + kOtherKey + "\r\n"},
      {"Authorization, the second empty", good + "Authorization: \r\n"},
      {"Authorization in other case", good + "authorization: Basic YWRtaW46YWRtaW4=\r\n"},
      {"Host twice", good + "Host: other.example\r\n"},
      {"Sec-WebSocket-Key twice", good + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"},
      {"Upgrade twice", good + "Upgrade: websocket\r\n"},
      {"Origin twice", good + "Origin: https://a.example\r\nOrigin: https://b.example\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const HttpResponse r = send_request(gw_, request_with("/app/admin", c.lines));
    EXPECT_EQ(r.status, 400) << r.head.raw << r.body;
  }
  {
    SCOPED_TRACE("Sec-WebSocket-Version twice");  // H4 answers it: exactly one line of 13
    const HttpResponse r = send_request(gw_, request_with("/app/admin", good + "Sec-WebSocket-Version: 13\r\n"));
    EXPECT_EQ(r.status, 426) << r.head.raw << r.body;
  }
  EXPECT_FALSE(admin_.process().has_output("Sekr1t-9b1d")) << "the second key reached the backend";
}

// Finding 13, in the query: ?key=good&key=other never passes.
TEST(PathQueryAuth, ARepeatedKeyParameterIs401) {
  TempDir dir("wsgate-keys");
  write_file(dir / "keys.txt", kKey + "\n");
  EchoBackend be("q");
  Gateway gw(pool_yaml("q", {be.port()}) + "auth:\n  q:\n    keys_file: " + (dir / "keys.txt").string() +
                 "\n    from: query\n    field: key\nroutes:\n  - { path: /q, pool: q, auth: q }\n",
             1);
  WsClient one = gw.open("/q?key=" + kKey);
  EXPECT_TRUE(one.handshake_ok()) << one.status();
  WsClient two = gw.open("/q?key=" + kKey + "&key=" + kOtherKey);
  EXPECT_EQ(two.status(), 401);
  WsClient two_same = gw.open("/q?key=" + kKey + "&x=1&key=" + kKey);
  EXPECT_EQ(two_same.status(), 401);
}

// ---------------------------------------------------------------- streams

FeedMessage next_feed(WsClient& c, milliseconds timeout = 5000ms) {
  const Message m = c.recv_message(timeout);
  std::optional<FeedMessage> f = parse_feed_message(m.payload);
  if (!f) throw TestIoError("not a feed message: " + m.payload.substr(0, 120));
  return *f;
}

std::string per_path_stream(const FeedSource& feed, const std::string& source_path, const std::string& extra) {
  return "streams:\n  fx:\n    source: " + feed.url(source_path) + "\n    channels: per_path\n" + extra +
         "routes:\n  - { path: /fx, stream: fx }\n";
}

// Finding 2: the subscribe message carries the operator's key; a client's
// path must not be able to add fields to it.
TEST(PathStreams, AChannelPathCannotRewriteTheSubscribeMessage) {
  FeedSource feed("fx", 50);
  const std::string send = "    on_connect_send:\n      - '{\"sub\":\"${path}\",\"key\":\"" + kVendorKey + "\"}'\n";
  Gateway gw(per_path_stream(feed, "/", send), 1);

  WsClient injected = gw.open("/fx/a\",\"admin\":true,\"x\":\"");
  EXPECT_EQ(injected.status(), 400) << injected.response().head.raw;

  WsClient encoded = gw.open("/fx/a%22,%22admin%22:true,%22x%22:%7b%22");
  ASSERT_TRUE(encoded.handshake_ok()) << encoded.status() << " " << encoded.handshake_error();
  next_feed(encoded);
  WsClient plain = gw.open("/fx/EURUSD");
  ASSERT_TRUE(plain.handshake_ok());
  next_feed(plain);

  const FeedStats s = feed.wait_stats([](const FeedStats& st) { return st.received.size() >= 2; });
  std::vector<std::string> texts;
  for (const FeedReceived& r : s.received) texts.push_back(r.text);
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{
                       "{\"sub\":\"/fx/EURUSD\",\"key\":\"" + kVendorKey + "\"}",
                       "{\"sub\":\"/fx/a%22,%22admin%22:true,%22x%22:%7B%22\",\"key\":\"" + kVendorKey + "\"}",
                   }));
}

// Finding 3: dot segments cannot climb out of the source path, and a
// channel is named by its normalised path.
TEST(PathStreams, AChannelStaysUnderTheSourcePath) {
  FeedSource feed("fx", 50);
  Gateway gw(per_path_stream(feed, "/vendor/v1", ""), 1);
  for (const std::string path : {"/fx/../../admin/export", "/fx/%2e%2e/%2e%2e/admin", "/fx/..%2f..%2fadmin"}) {
    SCOPED_TRACE(path);
    WsClient ws = gw.open(path);
    EXPECT_FALSE(ws.handshake_ok()) << "a path outside /fx was served";
    EXPECT_TRUE(ws.status() == 404 || ws.status() == 400) << ws.status();
  }
  WsClient dotted = gw.open("/fx/x/../EURUSD");
  ASSERT_TRUE(dotted.handshake_ok()) << dotted.status();
  WsClient plain = gw.open("/fx/%45URUSD");
  ASSERT_TRUE(plain.handshake_ok()) << plain.status();
  EXPECT_EQ(next_feed(dotted).path, "/vendor/v1/fx/EURUSD");
  EXPECT_EQ(next_feed(plain).path, "/vendor/v1/fx/EURUSD");
  const FeedStats s = feed.stats();
  EXPECT_EQ(s.connections_total, 1u) << "both spellings are one channel";
  for (const auto& [path, ch] : s.channels) {
    EXPECT_EQ(path.rfind("/vendor/v1/fx/", 0), 0u) << path;
  }
}

// Finding 12: one address holds at most max_channels_per_ip channels in use;
// others still get theirs.
TEST(PathStreams, OneAddressCannotTakeEveryChannel) {
  FeedSource feed("fx", 20);
  Gateway gw(per_path_stream(feed, "/", "    max_channels: 4\n    max_channels_per_ip: 2\n"), 2);
  WsClient a = WsClient::open_from("127.0.0.2", gw.port(), "/fx/a");
  WsClient b = WsClient::open_from("127.0.0.2", gw.port(), "/fx/b");
  ASSERT_TRUE(a.handshake_ok() && b.handshake_ok()) << a.status() << " " << b.status();
  WsClient c = WsClient::open_from("127.0.0.2", gw.port(), "/fx/c");
  EXPECT_EQ(c.status(), 429) << c.response().head.raw;
  EXPECT_TRUE(c.response().header("Retry-After").has_value());
  WsClient a2 = WsClient::open_from("127.0.0.2", gw.port(), "/fx/a");  // an existing path: not a new channel
  EXPECT_TRUE(a2.handshake_ok()) << a2.status();
  WsClient other = WsClient::open_from("127.0.0.3", gw.port(), "/fx/EURUSD");
  ASSERT_TRUE(other.handshake_ok()) << other.status();
  EXPECT_EQ(next_feed(other).path, "/fx/EURUSD");
}

// Finding 12: paths opened and left linger, but a new path gets the place of
// one without subscribers within a retry or two, not after `linger`.
TEST(PathStreams, AChannelWithoutSubscribersGivesWayToANewPath) {
  FeedSource feed("fx", 20);
  Gateway gw(per_path_stream(feed, "/", "    max_channels: 2\n    linger: 60s\n"), 2);
  for (const std::string path : {"/fx/junk1", "/fx/junk2"}) {
    WsClient ws = WsClient::open_from("127.0.0.2", gw.port(), path);
    ASSERT_TRUE(ws.handshake_ok()) << ws.status();
    next_feed(ws);
    ws.close(1000);
    ws.expect_close();
  }
  gw.wait_status([](const Status& s) {
    long subs = 0;
    for (const ChannelStatus& c : s.channels) subs += c.subscribers;
    return subs == 0;
  });
  const auto start = Clock::now();
  std::optional<WsClient> eur;
  int refusals = 0;
  while (Clock::now() - start < 10s) {
    WsClient ws = WsClient::open_from("127.0.0.3", gw.port(), "/fx/EURUSD");
    if (ws.handshake_ok()) {
      eur.emplace(std::move(ws));
      break;
    }
    ASSERT_EQ(ws.status(), 503) << ws.response().head.raw;
    ASSERT_EQ(ws.response().header("Retry-After"), "1") << ws.response().head.raw;
    ++refusals;
    std::this_thread::sleep_for(1s);
  }
  ASSERT_TRUE(eur.has_value()) << "a lingering channel kept its place";
  EXPECT_LE(refusals, 3);
  EXPECT_EQ(next_feed(*eur).path, "/fx/EURUSD");
  const FeedStats fs = feed.wait_stats([](const FeedStats& s) { return s.connections_open == 2; });
  EXPECT_EQ(fs.connections_open, 2u) << "the reclaimed channel's upstream was closed";
}

}  // namespace
}  // namespace wsgate::test
