// Global least-loaded routing through the real binary: two workers, three
// backends, the counts every worker reads from shared memory.
#include <gtest/gtest.h>

#include <csignal>
#include <map>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

// Asks the session which backend it landed on.
std::string whoami(WsClient& c) {
  c.send_text("whoami");
  return c.recv_message().payload;
}

std::vector<WsClient> open_sessions(const Gateway& gw, int n, std::map<std::string, int>* landed) {
  std::vector<WsClient> out;
  for (int i = 0; i < n; ++i) {
    WsClient c = gw.open("/chat");
    EXPECT_TRUE(c.handshake_ok()) << c.handshake_error();
    if (landed != nullptr) {
      ++(*landed)[whoami(c)];
    }
    out.push_back(std::move(c));
  }
  return out;
}

struct ThreeBackends : ::testing::Test {
  EchoBackend a{"a"}, b{"b"}, c{"c"};
  std::string address(const EchoBackend& be) const { return "127.0.0.1:" + std::to_string(be.port()); }
};

TEST_F(ThreeBackends, NinetyConcurrentSessionsLandThirtyEachAcrossTwoWorkers) {
  Gateway gw(pool_yaml("chat", {a.port(), b.port(), c.port()}) + kRoute, 2);
  std::map<std::string, int> landed;
  auto sessions = open_sessions(gw, 90, &landed);
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_NEAR(landed[name], 30, 2) << name;
  }
  Status s = gw.wait_status([](const Status& st) { return st.total_sessions() == 90; });
  EXPECT_EQ(s.total_sessions(), 90);
  // Both workers took part: the kernel spreads connections over both sockets.
  long w0 = 0, w1 = 0;
  for (const auto& be : s.backends) {
    w0 += be.per_worker.at(0);
    w1 += be.per_worker.at(1);
  }
  EXPECT_GT(w0, 0);
  EXPECT_GT(w1, 0);
  EXPECT_EQ(w0 + w1, 90);
}

TEST_F(ThreeBackends, ClosedSessionsAreRefilledOnTheSameBackendWhicheverWorkerAccepts) {
  Gateway gw(pool_yaml("chat", {a.port(), b.port(), c.port()}) + kRoute, 2);
  std::vector<std::pair<std::string, WsClient>> sessions;
  for (int i = 0; i < 90; ++i) {
    WsClient cl = gw.open("/chat");
    ASSERT_TRUE(cl.handshake_ok()) << cl.handshake_error();
    std::string who = whoami(cl);
    sessions.emplace_back(who, std::move(cl));
  }
  // Close nine sessions that landed on "b", cleanly.
  int closed = 0;
  for (auto& [who, cl] : sessions) {
    if (who == "b" && closed < 9) {
      cl.close(1000);
      EXPECT_EQ(cl.expect_close().code, 1000);
      ++closed;
    }
  }
  ASSERT_EQ(closed, 9);
  std::string b_addr = address(b);
  gw.wait_status([&](const Status& st) { return st.total_sessions() == 81; });
  std::map<std::string, int> landed;
  auto more = open_sessions(gw, 9, &landed);
  EXPECT_EQ(landed["b"], 9) << "a=" << landed["a"] << " c=" << landed["c"];
  Status s = gw.wait_status([](const Status& st) { return st.total_sessions() == 90; });
  EXPECT_EQ(s.find(b_addr)->sessions, 30);
}

TEST(Weights, AWeightTwoBackendGetsTwiceTheSessions) {
  EchoBackend a{"a"}, heavy{"heavy"}, c{"c"};
  std::string body = "pools:\n  chat:\n    backends:\n      - 127.0.0.1:" + std::to_string(a.port()) +
                     "\n      - { address: 127.0.0.1:" + std::to_string(heavy.port()) +
                     ", weight: 2 }\n      - 127.0.0.1:" + std::to_string(c.port()) + "\n" + kRoute;
  Gateway gw(body, 2);
  std::map<std::string, int> landed;
  auto sessions = open_sessions(gw, 80, &landed);
  EXPECT_NEAR(landed["heavy"], 40, 2);
  EXPECT_NEAR(landed["a"], 20, 2);
  EXPECT_NEAR(landed["c"], 20, 2);
}

TEST(RoundRobin, SpreadsEvenlyPerWorker) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}, "    balance: round_robin\n") + kRoute, 1);
  std::map<std::string, int> landed;
  auto sessions = open_sessions(gw, 20, &landed);
  EXPECT_EQ(landed["a"], 10);
  EXPECT_EQ(landed["b"], 10);
}

TEST_F(ThreeBackends, ABackendStoppedMidRunFailsNoNewSession) {
  Gateway gw(pool_yaml("chat", {a.port(), b.port(), c.port()}, "    retries: 2\n") + kRoute, 2);
  std::map<std::string, int> before;
  auto first = open_sessions(gw, 30, &before);
  EXPECT_EQ(before["b"], 10);
  std::string b_addr = address(b);
  b.process().send_signal(SIGKILL);
  b.process().wait_exit();
  // Sessions that were on b are closed 1012 by wsgate; new ones must all succeed elsewhere.
  std::map<std::string, int> after;
  for (int i = 0; i < 60; ++i) {
    WsClient cl = gw.open("/chat");
    ASSERT_TRUE(cl.handshake_ok()) << "session " << i << ": " << cl.handshake_error() << "\n"
                                   << gw.process().stderr_text();
    ++after[whoami(cl)];
  }
  EXPECT_EQ(after["b"], 0);
  EXPECT_EQ(after["a"] + after["c"], 60);
  Status s = gw.status();
  EXPECT_EQ(s.find(b_addr)->state, "down");
  EXPECT_EQ(s.find(b_addr)->sessions, 0);
  // The 20 survivors on a and c still echo.
  int echoed = 0;
  for (auto& cl : first) {
    cl.send_text("still here");
    Message m = cl.recv_message();
    if (m.opcode == kClose) {
      continue;  // was on b
    }
    EXPECT_EQ(m.payload, "still here");
    ++echoed;
  }
  EXPECT_EQ(echoed, 20);
}

TEST_F(ThreeBackends, SessionsOfAKilledBackendGet1012AndLeaveTheCountsAtOnce) {
  Gateway gw(pool_yaml("chat", {a.port(), b.port(), c.port()}) + kRoute, 2);
  std::vector<std::pair<std::string, WsClient>> sessions;
  for (int i = 0; i < 12; ++i) {
    WsClient cl = gw.open("/chat");
    ASSERT_TRUE(cl.handshake_ok());
    std::string who = whoami(cl);
    sessions.emplace_back(who, std::move(cl));
  }
  c.process().send_signal(SIGKILL);
  for (auto& [who, cl] : sessions) {
    if (who == "c") {
      EXPECT_EQ(cl.expect_close(milliseconds(3000)).code, 1012);
    }
  }
  Status s = gw.wait_status([](const Status& st) { return st.total_sessions() == 8; });
  EXPECT_EQ(s.total_sessions(), 8);
}

}  // namespace
}  // namespace wsgate::test
