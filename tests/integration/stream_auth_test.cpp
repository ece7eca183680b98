// API keys on routes (auth:), end to end through the real wsgate: a stream
// route with the key in the Authorization header, in a query parameter, or in
// the first message; a pool route with a header key; and the config check
// that refuses from: first_message on a pool route. No key, right or wrong,
// may ever show up in wsgate's log.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Printable ASCII, no spaces: what a keys file may hold. kKeyOdd needs
// percent-encoding in a query ('&', '+', '/', '=' and '%' would all be
// misread raw); kKeyNumeric looks like a JSON number.
const std::string kKey = "k3y-Sekr1t-7f9a2c";
const std::string kKeyOdd = "tok&en+1/=%x";
const std::string kKeyOddEncoded = "tok%26en%2B1%2F%3D%25x";
const std::string kKeyNumeric = "20240917";
const std::string kWrongKey = "wr0ng-Sekr1t-55aa";
// What a client might send as keys; none may be logged.
const std::vector<std::string> kSecrets = {kKey, kKeyOdd, kKeyOddEncoded, kWrongKey, "Sekr1t"};

// "auth:" block `keys` with `from` (and `field`, `timeout` when given).
std::string auth_yaml(const std::string& keys_file, const std::string& from, const std::string& field = "",
                      const std::string& timeout = "") {
  std::string y = "auth:\n  keys:\n    keys_file: " + keys_file + "\n    from: " + from + "\n";
  if (!field.empty()) y += "    field: " + field + "\n";
  if (!timeout.empty()) y += "    timeout: " + timeout + "\n";
  return y;
}

std::string stream_yaml(const FeedSource& feed) {
  return "streams:\n"
         "  fx:\n"
         "    source: " +
         feed.url("/live") +
         "\n"
         "    channels: single\n"
         "    history: 0\n"
         "    linger: 30s\n";
}

const std::string kStreamRoute = "routes:\n  - { path: /fx, stream: fx, auth: keys }\n";

void write_keys(const TempDir& dir) {
  write_file(dir / "keys.txt", "# API keys for fx\n" + kKey + "\n\n" + kKeyOdd + "\n" + kKeyNumeric + "\n");
}

// The feed flows: a few messages from the source, in order.
void expect_feed(WsClient& ws, const FeedSource& feed, int n = 3) {
  std::optional<std::uint64_t> last;
  for (int i = 0; i < n; ++i) {
    const Message m = ws.recv_message(5000ms);
    ASSERT_EQ(m.opcode, kText) << "payload \"" << m.payload << "\"";
    const auto fm = parse_feed_message(m.payload);
    ASSERT_TRUE(fm) << "not a feed message: " << m.payload;
    EXPECT_EQ(fm->path, "/live");
    EXPECT_EQ(fm->src, feed.name());
    if (last) {
      EXPECT_EQ(fm->seq, *last + 1);
    }
    last = fm->seq;
  }
}

// A refused upgrade: 401, nothing upgraded, no key echoed back.
void expect_401(const WsClient& ws, bool www_authenticate) {
  EXPECT_FALSE(ws.handshake_ok());
  EXPECT_EQ(ws.status(), 401) << ws.handshake_error() << "\n" << ws.response().head.raw;
  if (www_authenticate) {
    ASSERT_TRUE(ws.response().header("WWW-Authenticate")) << ws.response().head.raw;
    EXPECT_EQ(*ws.response().header("WWW-Authenticate"), "Bearer");
  } else {
    EXPECT_FALSE(ws.response().header("WWW-Authenticate")) << ws.response().head.raw;
  }
  for (const std::string& s : kSecrets) {
    EXPECT_EQ(ws.response().head.raw.find(s), std::string::npos) << "401 shows a key: " << ws.response().head.raw;
    EXPECT_EQ(ws.response().body.find(s), std::string::npos) << "401 body shows a key: " << ws.response().body;
  }
}

// Closed with 1008 by wsgate, before any stream data, the reason not
// showing the key; then our reply and EOF.
void expect_1008(WsClient& ws, milliseconds timeout = 5000ms) {
  const Message m = ws.recv_message(timeout);
  if (m.opcode != kClose) {
    ADD_FAILURE() << "expected a close 1008, but the subscriber was let in: got opcode " << int{m.opcode} << " \""
                  << m.payload << "\"";
    return;
  }
  ASSERT_GE(m.payload.size(), 2u);
  const unsigned code = (static_cast<unsigned char>(m.payload[0]) << 8) | static_cast<unsigned char>(m.payload[1]);
  const std::string reason = m.payload.substr(2);
  EXPECT_EQ(code, 1008u) << "reason \"" << reason << "\"";
  for (const std::string& s : kSecrets) {
    EXPECT_EQ(reason.find(s), std::string::npos) << "close reason shows a key: " << reason;
  }
  ws.close(static_cast<std::uint16_t>(code));
  ws.wait_eof(5000ms);
}

// One wsgate in front of one feed source, with the `fx` stream behind `auth`.
class StreamAuthBase : public ::testing::Test {
 protected:
  void start(const std::string& from, const std::string& field = "", const std::string& timeout = "") {
    write_keys(keys_dir_);
    gw_.emplace(stream_yaml(feed_) + auth_yaml((keys_dir_ / "keys.txt").string(), from, field, timeout) + kStreamRoute,
                2);
  }

  void TearDown() override {
    if (!gw_) return;
    const ExitStatus st = gw_->process().stop(10s);
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw_->process().stderr_text();
    // Keys never reach the log: not the valid ones, not the ones tried.
    const std::string log = gw_->process().stdout_text() + gw_->process().stderr_text();
    for (const std::string& s : kSecrets) {
      EXPECT_EQ(log.find(s), std::string::npos) << "wsgate logged a key (" << s << "):\n" << log;
    }
    EXPECT_EQ(log.find(kKeyNumeric), std::string::npos) << "wsgate logged a key:\n" << log;
  }

  WsClient open(const std::string& target, const std::vector<Header>& headers = {}) {
    return gw_->open(target, headers);
  }

  // Subscribers the status counts on the fx channel (0 if not there yet).
  long subscribers() const {
    const Status s = gw_->status();
    const ChannelStatus* c = s.channel("fx");
    return c ? c->subscribers : 0;
  }

  FeedSource feed_{"feed", 100};
  TempDir keys_dir_{"wsgate-keys"};
  std::optional<Gateway> gw_;
};

// ---------------------------------------------------------------- header

class HeaderAuth : public StreamAuthBase {
 protected:
  void SetUp() override { start("header"); }
};

TEST_F(HeaderAuth, RightKeyReceivesTheFeed) {
  WsClient ws = open("/fx", {{"Authorization", "Bearer " + kKey}});
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  expect_feed(ws, feed_);
  // Another key of the same file works too.
  WsClient other = open("/fx", {{"Authorization", "Bearer " + kKeyOdd}});
  ASSERT_TRUE(other.handshake_ok()) << other.handshake_error();
  expect_feed(other, feed_);
}

// Keys files are re-read on SIGHUP: a rotated key works from then on and a
// revoked one is refused, without a restart and without touching the
// subscribers already in.
TEST_F(HeaderAuth, KeysFileIsReReadOnSighup) {
  WsClient before = open("/fx", {{"Authorization", "Bearer " + kKey}});
  ASSERT_TRUE(before.handshake_ok()) << before.handshake_error();
  expect_401(open("/fx", {{"Authorization", "Bearer " + kWrongKey}}), true);
  write_file(keys_dir_ / "keys.txt", kWrongKey + "\n");
  gw_->process().send_signal(SIGHUP);
  gw_->process().wait_for_output("reload applied in place (auth keys)", 5000ms);
  // The other worker's line may follow a moment later; then every new
  // handshake, on either worker, sees the new file.
  ::usleep(500 * 1000);
  for (int i = 0; i < 6; ++i) {
    WsClient now = open("/fx", {{"Authorization", "Bearer " + kWrongKey}});
    ASSERT_TRUE(now.handshake_ok()) << "attempt " << i << ": " << now.handshake_error();
    expect_401(open("/fx", {{"Authorization", "Bearer " + kKey}}), true);
  }
  expect_feed(before, feed_, 2);  // already in: untouched
}

TEST_F(HeaderAuth, SchemeIsCaseInsensitive) {
  for (const std::string& scheme : std::vector<std::string>{"bearer", "BEARER", "bEaReR"}) {
    WsClient ws = open("/fx", {{"Authorization", scheme + " " + kKey}});
    ASSERT_TRUE(ws.handshake_ok()) << scheme << ": " << ws.handshake_error();
    expect_feed(ws, feed_, 2);
  }
}

TEST_F(HeaderAuth, WrongKeyGets401WithWwwAuthenticate) {
  expect_401(open("/fx", {{"Authorization", "Bearer " + kWrongKey}}), true);
  // A prefix, an extension and the key with different case are all wrong.
  expect_401(open("/fx", {{"Authorization", "Bearer " + kKey.substr(0, kKey.size() - 1)}}), true);
  expect_401(open("/fx", {{"Authorization", "Bearer " + kKey + "x"}}), true);
  expect_401(open("/fx", {{"Authorization", "Bearer K3Y-SEKR1T-7F9A2C"}}), true);
  EXPECT_EQ(subscribers(), 0);
}

TEST_F(HeaderAuth, MissingKeyGets401WithWwwAuthenticate) {
  expect_401(open("/fx"), true);
  expect_401(open("/fx", {{"Authorization", "Bearer"}}), true);
  expect_401(open("/fx", {{"Authorization", "Bearer "}}), true);
  // Another scheme, or the key without one, is no key.
  expect_401(open("/fx", {{"Authorization", "Basic " + kKey}}), true);
  expect_401(open("/fx", {{"Authorization", kKey}}), true);
  // The key in the query does not count in header mode.
  expect_401(open("/fx?key=" + kKey), true);
  EXPECT_EQ(subscribers(), 0);
}

// ---------------------------------------------------------------- query

class QueryAuth : public StreamAuthBase {
 protected:
  void SetUp() override { start("query", "token"); }
};

TEST_F(QueryAuth, RightKeyReceivesTheFeed) {
  WsClient ws = open("/fx?token=" + kKey);
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  expect_feed(ws, feed_);
  // Not the first parameter.
  WsClient later = open("/fx?lang=en&token=" + kKey + "&x=1");
  ASSERT_TRUE(later.handshake_ok()) << later.handshake_error();
  expect_feed(later, feed_);
}

TEST_F(QueryAuth, PercentEncodedKeyIsDecoded) {
  WsClient ws = open("/fx?token=" + kKeyOddEncoded);
  ASSERT_TRUE(ws.handshake_ok()) << ws.status() << " " << ws.handshake_error();
  expect_feed(ws, feed_);
  // Lower-case hex digits are the same bytes.
  WsClient lower = open("/fx?token=tok%26en%2b1%2f%3d%25x");
  ASSERT_TRUE(lower.handshake_ok()) << lower.status() << " " << lower.handshake_error();
  expect_feed(lower, feed_, 2);
  // Percent-encoding an ordinary character changes nothing either.
  WsClient plain = open("/fx?token=%6B3y-Sekr1t-7f9a2c");
  ASSERT_TRUE(plain.handshake_ok()) << plain.status() << " " << plain.handshake_error();
  expect_feed(plain, feed_, 2);
}

TEST_F(QueryAuth, WrongKeyGets401) {
  expect_401(open("/fx?token=" + kWrongKey), false);
  // Unencoded, '&' ends the parameter and '%x' is no escape: not the key.
  expect_401(open("/fx?token=tok&en+1/=%x"), false);
  // Bad percent-encoding.
  expect_401(open("/fx?token=" + kKey + "%2"), false);
  expect_401(open("/fx?token=" + kKey + "%zz"), false);
  EXPECT_EQ(subscribers(), 0);
}

TEST_F(QueryAuth, MissingKeyGets401) {
  expect_401(open("/fx"), false);
  expect_401(open("/fx?"), false);
  expect_401(open("/fx?token"), false);
  expect_401(open("/fx?token="), false);
  // Another parameter's value, a prefix of the name, or the header, is no key.
  expect_401(open("/fx?key=" + kKey), false);
  expect_401(open("/fx?tokens=" + kKey), false);
  expect_401(open("/fx?xtoken=" + kKey), false);
  expect_401(open("/fx", {{"Authorization", "Bearer " + kKey}}), false);
  EXPECT_EQ(subscribers(), 0);
}

// ---------------------------------------------------------------- first_message

class FirstMessageAuth : public StreamAuthBase {
 protected:
  void SetUp() override { start("first_message", "userKey", "300ms"); }

  // Upgraded at once, key or not.
  WsClient upgraded() {
    WsClient ws = open("/fx");
    EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    return ws;
  }
};

TEST_F(FirstMessageAuth, RightKeyReceivesTheFeed) {
  WsClient ws = upgraded();
  ws.send_text(R"({"userKey":")" + kKey + R"("})");
  expect_feed(ws, feed_);
  // Other fields around it, whitespace, and another key of the file.
  WsClient other = upgraded();
  other.send_text("  {\"client\": \"demo\", \"userKey\" : \"" + kKeyOdd + "\", \"n\": [1, 2]}\n");
  expect_feed(other, feed_);
  EXPECT_EQ(gw_->wait_status([](const Status& s) {
                 const ChannelStatus* c = s.channel("fx");
                 return c && c->subscribers == 2;
               })
                .channel("fx")
                ->subscribers,
            2);
}

TEST_F(FirstMessageAuth, KeyFragmentedOverFramesIsOneMessage) {
  WsClient ws = upgraded();
  ws.send_fragments(kText, {R"({"user)", R"(Key":")" + kKey.substr(0, 5), kKey.substr(5) + R"("})"});
  expect_feed(ws, feed_);
}

TEST_F(FirstMessageAuth, KeyInTheSameWriteAsTheUpgrade) {
  WsClient ws = WsClient::connect(gw_->port());
  RawFrame f = RawFrame::of(kText, R"({"userKey":")" + kKey + R"("})");
  ws.send_raw(
      WsClient::upgrade_request("/fx", "127.0.0.1:" + std::to_string(gw_->port()), "dGhlIHNhbXBsZSBub25jZQ==", {}, {}) +
      build_frame(f));
  const HttpResponse r = ws.read_http_response();
  ASSERT_EQ(r.status, 101) << r.head.raw;
  expect_feed(ws, feed_);
}

TEST_F(FirstMessageAuth, NoMessageWithinTheTimeoutIs1008) {
  const auto t0 = Clock::now();
  WsClient ws = upgraded();
  expect_1008(ws, 5000ms);
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  EXPECT_GE(waited.count(), 250) << "closed before the 300 ms timeout";
  EXPECT_LT(waited.count(), 3000);
  EXPECT_EQ(subscribers(), 0);
}

TEST_F(FirstMessageAuth, RightKeyAfterTheTimeoutIsTooLate) {
  WsClient ws = upgraded();
  ::usleep(700 * 1000);
  // wsgate has closed already; our key may still reach the socket.
  try {
    ws.send_text(R"({"userKey":")" + kKey + R"("})");
  } catch (const TestIoError&) {
  }
  const CloseInfo c = ws.expect_close(3000ms);
  EXPECT_EQ(c.code, 1008);
  EXPECT_EQ(c.skipped, 0u) << "stream data after a late key";
}

TEST_F(FirstMessageAuth, PingsDoNotCountAsTheKey) {
  WsClient ws = upgraded();
  ws.ping("hi");
  const Message pong = ws.recv_message(3000ms);
  EXPECT_EQ(pong.opcode, kPong);
  EXPECT_EQ(pong.payload, "hi");
  ws.send_text(R"({"userKey":")" + kKey + R"("})");
  expect_feed(ws, feed_);
}

TEST_F(FirstMessageAuth, WrongKeyIs1008) {
  WsClient ws = upgraded();
  ws.send_text(R"({"userKey":")" + kWrongKey + R"("})");
  expect_1008(ws);
  WsClient raw = upgraded();  // the percent-encoded form is not the key here
  raw.send_text(R"({"userKey":")" + kKeyOddEncoded + R"("})");
  expect_1008(raw);
  EXPECT_EQ(subscribers(), 0);
}

TEST_F(FirstMessageAuth, MissingKeyIs1008) {
  WsClient empty = upgraded();
  empty.send_text(R"({"userKey":""})");
  expect_1008(empty);
  WsClient none = upgraded();
  none.send_text("{}");
  expect_1008(none);
}

TEST_F(FirstMessageAuth, NotJsonIs1008) {
  for (const std::string& text :
       std::vector<std::string>{std::string("hello"), kKey, std::string("{\"userKey\":\"") + kKey,
                                std::string("[{\"userKey\":\"") + kKey + "\"}]", std::string("\"") + kKey + "\""}) {
    WsClient ws = upgraded();
    ws.send_text(text);
    expect_1008(ws);
  }
}

TEST_F(FirstMessageAuth, JsonWithoutTheFieldIs1008) {
  for (const std::string& text :
       std::vector<std::string>{R"({"key":")" + kKey + R"("})", R"({"userkey":")" + kKey + R"("})",
                                R"({"auth":{"userKey":")" + kKey + R"("}})"}) {
    WsClient ws = upgraded();
    ws.send_text(text);
    expect_1008(ws);
  }
}

TEST_F(FirstMessageAuth, FieldThatIsNotAStringIs1008) {
  for (const std::string& text :
       std::vector<std::string>{R"({"userKey":[")" + kKey + R"("]})", R"({"userKey":{"k":")" + kKey + R"("}})",
                                R"({"userKey":null})", R"({"userKey":true})"}) {
    WsClient ws = upgraded();
    ws.send_text(text);
    expect_1008(ws);
  }
}

// kKeyNumeric is a key of the file, as a string. The same digits as a JSON
// number are not a string field, so they are no key.
// Documented (README, Auth): the field is read as text, so a key that is all
// digits may be sent as a JSON number too; a different number is refused.
TEST_F(FirstMessageAuth, NumberFieldIsReadAsItsText) {
  WsClient good = upgraded();
  good.send_text(R"({"userKey":")" + kKeyNumeric + R"("})");
  expect_feed(good, feed_, 2);
  WsClient bare = upgraded();
  bare.send_text(R"({"userKey":)" + kKeyNumeric + "}");
  expect_feed(bare, feed_, 2);
  WsClient ws = upgraded();
  ws.send_text(R"({"userKey":)" + kKeyNumeric + "1}");
  expect_1008(ws);
}

// ---------------------------------------------------------------- pool route

class PoolHeaderAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    write_keys(keys_dir_);
    gw_.emplace(pool_yaml("chat", {be_.port()}) + auth_yaml((keys_dir_ / "keys.txt").string(), "header") +
                    "routes:\n  - { path: /chat, pool: chat, auth: keys }\n",
                2);
  }
  void TearDown() override {
    const ExitStatus st = gw_->process().stop(10s);
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw_->process().stderr_text();
    const std::string log = gw_->process().stdout_text() + gw_->process().stderr_text();
    for (const std::string& s : kSecrets) {
      EXPECT_EQ(log.find(s), std::string::npos) << "wsgate logged a key (" << s << "):\n" << log;
    }
  }

  EchoBackend be_{"alpha"};
  TempDir keys_dir_{"wsgate-keys"};
  std::optional<Gateway> gw_;
};

TEST_F(PoolHeaderAuth, NoKeyGets401AndTheBackendIsNotAsked) {
  expect_401(gw_->open("/chat"), true);
  expect_401(gw_->open("/chat", {{"Authorization", "Bearer " + kWrongKey}}), true);
  const Status s = gw_->status();
  EXPECT_EQ(s.total_sessions(), 0);
  // The refused upgrades never reached the backend.
  EXPECT_FALSE(be_.process().has_output(kWrongKey)) << be_.process().stderr_text();
}

TEST_F(PoolHeaderAuth, RightKeyIsRelayedToTheBackend) {
  WsClient ws = gw_->open("/chat", {{"Authorization", "bearer " + kKey}});
  ASSERT_TRUE(ws.handshake_ok()) << ws.status() << " " << ws.handshake_error();
  ws.send_text("hello through auth");
  const Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kText);
  EXPECT_EQ(m.payload, "hello through auth");
  ws.close(1000);
  EXPECT_EQ(ws.expect_close().code, 1000);
}

// A query key on a pool route travels in the request target, which goes on
// to the backend. When that backend cannot be reached, wsgate logs the
// failed attempt: the log must not carry the target's key along.
TEST(PoolQueryAuth, AFailedBackendAttemptDoesNotLogTheKey) {
  TempDir keys_dir("wsgate-keys");
  write_keys(keys_dir);
  const std::uint16_t dead = free_port();  // nothing listens there
  Gateway gw(pool_yaml("chat", {dead}) + auth_yaml((keys_dir / "keys.txt").string(), "query", "token") +
                 "routes:\n  - { path: /chat, pool: chat, auth: keys }\n",
             1);
  expect_401(gw.open("/chat?token=" + kWrongKey), false);
  WsClient ws = gw.open("/chat?room=1&token=" + kKey);
  EXPECT_FALSE(ws.handshake_ok());
  EXPECT_GE(ws.status(), 500) << ws.response().head.raw;
  gw.process().wait_for_output("while upgrading to backend", 5000ms);
  const ExitStatus st = gw.process().stop(10s);
  EXPECT_TRUE(st.ok()) << st.describe();
  const std::string log = gw.process().stdout_text() + gw.process().stderr_text();
  for (const std::string& s : kSecrets) {
    EXPECT_EQ(log.find(s), std::string::npos) << "wsgate logged a key (" << s << "):\n" << log;
  }
}

// ---------------------------------------------------------------- config check

TEST(AuthConfig, FirstMessageOnAPoolRouteIsRefused) {
  TempDir dir("wsgate-authconf");
  write_keys(dir);
  const std::string config = (dir / "wsgate.yaml").string();
  write_file(config, "listen: 127.0.0.1:" + std::to_string(free_port()) + "\nworkers: 1\n" +
                         pool_yaml("chat", {free_port()}) +
                         auth_yaml((dir / "keys.txt").string(), "first_message", "userKey") +
                         "routes:\n  - { path: /chat, pool: chat, auth: keys }\n");
  const CommandResult r = run_wsgate({"-t", "-c", config});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const std::string said = r.out + r.err;
  // Names the offending key (routes[0].auth), the auth block and why.
  EXPECT_NE(said.find("auth"), std::string::npos) << said;
  EXPECT_NE(said.find("routes[0].auth"), std::string::npos) << said;
  EXPECT_NE(said.find("\"keys\""), std::string::npos) << said;
  EXPECT_NE(said.find("first message"), std::string::npos) << said;
  for (const std::string& s : kSecrets) {
    EXPECT_EQ(said.find(s), std::string::npos) << "the config check shows a key: " << said;
  }
}

TEST(AuthConfig, FirstMessageOnAStreamRouteIsAccepted) {
  TempDir dir("wsgate-authconf");
  write_keys(dir);
  const std::string config = (dir / "wsgate.yaml").string();
  write_file(config, "listen: 127.0.0.1:" + std::to_string(free_port()) + "\nworkers: 1\n" +
                         "streams:\n  fx:\n    source: ws://127.0.0.1:9/live\n" +
                         auth_yaml((dir / "keys.txt").string(), "first_message", "userKey") + kStreamRoute);
  const CommandResult r = run_wsgate({"-t", "-c", config});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace wsgate::test
