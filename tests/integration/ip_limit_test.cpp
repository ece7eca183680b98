// limits.max_connections_per_ip and limits.handshake_rate_per_ip against the
// real binary over two workers: 503/429 with Retry-After, one slot freed by a
// close, source addresses counted apart, stream subscribers counted, and no
// count leaked by a worker killed with -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

std::string limits(const std::string& lines) { return "limits:\n" + lines; }

void expect_refused(WsClient& c, int status) {
  ASSERT_FALSE(c.handshake_ok());
  EXPECT_EQ(c.status(), status) << c.handshake_error();
  auto retry = c.response().header("Retry-After");
  ASSERT_TRUE(retry.has_value()) << c.response().head.raw;
  EXPECT_GE(std::stoi(*retry), 1);
  EXPECT_EQ(c.response().header("Connection"), "close");
}

// Opens from `source` until one gets in (a closed session's count is
// released once wsgate has finished it), for at most `timeout`.
std::optional<WsClient> open_when_admitted(const Gateway& gw, const std::string& source, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    WsClient c = WsClient::open_from(source, gw.port(), "/chat");
    if (c.handshake_ok()) {
      return c;
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

TEST(IpLimit, TheNPlusFirstConnectionOverTwoWorkersGets503) {
  EchoBackend a{"a"};
  Gateway gw(limits("  max_connections_per_ip: 6\n") + pool_yaml("chat", {a.port()}) + kRoute, 2);
  std::vector<WsClient> open;
  for (int i = 0; i < 6; ++i) {
    open.push_back(gw.open("/chat"));
    ASSERT_TRUE(open.back().handshake_ok()) << i << ": " << open.back().handshake_error();
  }
  Status st = gw.status();
  ASSERT_EQ(st.backends[0].per_worker.size(), 2u);
  // SO_REUSEPORT spreads them: the limit is over both workers, not per worker.
  for (int i = 0; i < 4; ++i) {
    WsClient over = gw.open("/chat");
    expect_refused(over, 503);
  }
  EXPECT_NE(gw.process().stderr_text().find("max_connections_per_ip"), std::string::npos);
  open[2].close();
  open[2].expect_close();
  std::optional<WsClient> again = open_when_admitted(gw, "127.0.0.1", 5000ms);
  ASSERT_TRUE(again) << "a closed connection's place was not freed";
  WsClient over = gw.open("/chat");
  expect_refused(over, 503);
  std::string json = run_wsgate({"status", "-c", gw.config_path(), "--json"}).out;
  EXPECT_NE(json.find("\"ip_limits\":{\"tracked\":1,"), std::string::npos) << json;
}

TEST(IpLimit, SourceAddressesAreCountedApart) {
  EchoBackend a{"a"};
  Gateway gw(limits("  max_connections_per_ip: 2\n") + pool_yaml("chat", {a.port()}) + kRoute, 2);
  std::vector<WsClient> open;
  for (const char* src : {"127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3"}) {
    open.push_back(WsClient::open_from(src, gw.port(), "/chat"));
    ASSERT_TRUE(open.back().handshake_ok()) << src << ": " << open.back().handshake_error();
  }
  WsClient two = WsClient::open_from("127.0.0.2", gw.port(), "/chat");
  expect_refused(two, 503);
  WsClient one = WsClient::open_from("127.0.0.1", gw.port(), "/chat");
  expect_refused(one, 503);
  WsClient three = WsClient::open_from("127.0.0.3", gw.port(), "/chat");
  EXPECT_TRUE(three.handshake_ok()) << three.handshake_error();
}

TEST(IpLimit, OverTheHandshakeRateGets429) {
  EchoBackend a{"a"};
  Gateway gw(limits("  handshake_rate_per_ip: 5/s\n") + pool_yaml("chat", {a.port()}) + kRoute, 2);
  int admitted = 0;
  std::optional<WsClient> refused;
  for (int i = 0; i < 12 && !refused; ++i) {
    WsClient c = WsClient::open_from("127.0.0.4", gw.port(), "/chat");
    if (c.handshake_ok()) {
      ++admitted;
    } else {
      refused.emplace(std::move(c));
    }
  }
  ASSERT_TRUE(refused) << "12 handshakes at once from one address were all admitted";
  EXPECT_GE(admitted, 5) << "the burst is one second's worth";
  EXPECT_LE(admitted, 6);
  expect_refused(*refused, 429);
  WsClient other = WsClient::open_from("127.0.0.5", gw.port(), "/chat");
  EXPECT_TRUE(other.handshake_ok()) << "another address has its own rate";
  std::this_thread::sleep_for(400ms);  // 5/s: two more by now
  WsClient later = WsClient::open_from("127.0.0.4", gw.port(), "/chat");
  EXPECT_TRUE(later.handshake_ok()) << later.handshake_error();
}

TEST(IpLimit, StreamSubscribersCountToo) {
  FeedSource feed("fx", 20);
  Gateway gw(limits("  max_connections_per_ip: 2\n") + "streams:\n  fx:\n    source: " + feed.url("/live") +
                 "\nroutes:\n  - { path: /fx, stream: fx }\n",
             2);
  WsClient s1 = gw.open("/fx"), s2 = gw.open("/fx");
  ASSERT_TRUE(s1.handshake_ok() && s2.handshake_ok());
  WsClient s3 = gw.open("/fx");
  expect_refused(s3, 503);
  s1.close();
  s1.expect_close();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool in = false;
  while (!in && std::chrono::steady_clock::now() < deadline) {
    WsClient c = gw.open("/fx");
    in = c.handshake_ok();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(in) << "a subscriber's close did not free its place";
}

TEST(IpLimit, AWorkerKilledWithMinus9LeaksNoCount) {
  EchoBackend a{"a"};
  Gateway gw(limits("  max_connections_per_ip: 3\n") + pool_yaml("chat", {a.port()}) + kRoute, 2);
  std::vector<WsClient> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(WsClient::open_from("127.0.0.6", gw.port(), "/chat"));
    ASSERT_TRUE(open.back().handshake_ok());
  }
  WsClient over = WsClient::open_from("127.0.0.6", gw.port(), "/chat");
  expect_refused(over, 503);
  Status before = gw.status();
  for (size_t slot = 0; slot < 2; ++slot) {
    if (before.backends[0].per_worker[slot] > 0) {
      ASSERT_EQ(::kill(before.worker_pids[slot], SIGKILL), 0);
    }
  }
  // Respawned into the same slots; their rows, and their per-IP counts, cleared.
  gw.wait_status([&](const Status& s) {
    return s.worker_pids[0] != 0 && s.worker_pids[1] != 0 && s.worker_pids != before.worker_pids;
  });
  open.clear();
  std::vector<WsClient> again;
  for (int i = 0; i < 3; ++i) {
    std::optional<WsClient> c = open_when_admitted(gw, "127.0.0.6", 5000ms);
    ASSERT_TRUE(c) << "connection " << i << ": the dead worker's counts are still held";
    again.push_back(std::move(*c));
  }
  WsClient over_again = WsClient::open_from("127.0.0.6", gw.port(), "/chat");
  expect_refused(over_again, 503);
}

}  // namespace
}  // namespace wsgate::test
