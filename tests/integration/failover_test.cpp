// What happens to live sessions when their backend is lost (F14):
// on_backend_loss close/reconnect, loss_spread, max_handshake_rate, slow_start.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

std::string whoami(WsClient& c) {
  c.send_text("whoami");
  return c.recv_message().payload;
}

struct Landed {
  std::string backend;
  WsClient client;
};

std::vector<Landed> open_sessions(const Gateway& gw, int n) {
  std::vector<Landed> out;
  for (int i = 0; i < n; ++i) {
    WsClient c = gw.open("/chat");
    EXPECT_TRUE(c.handshake_ok()) << c.handshake_error();
    std::string who = whoami(c);
    out.push_back({who, std::move(c)});
  }
  return out;
}

std::string three_pool(const EchoBackend& a, const EchoBackend& b, const EchoBackend& c, const std::string& extra) {
  return pool_yaml("chat", {a.port(), b.port(), c.port()}, extra) + kRoute;
}

TEST(Reconnect, SessionsOfAKilledBackendMoveWithNoneClosed) {
  EchoBackend a{"a"}, b{"b"}, c{"c"};
  Gateway gw(three_pool(a, b, c, "    on_backend_loss: reconnect\n"), 2);
  auto sessions = open_sessions(gw, 15);
  c.process().send_signal(SIGKILL);
  c.process().wait_exit();
  int moved = 0;
  for (auto& s : sessions) {
    // Every session answers; those that were on c now answer from a or b.
    std::string now = whoami(s.client);
    EXPECT_NE(now, "c");
    moved += s.backend == "c" ? 1 : 0;
    s.client.send_text("still relaying");
    EXPECT_EQ(s.client.recv_message().payload, "still relaying");
  }
  EXPECT_EQ(moved, 5);
  Status st = gw.wait_status([](const Status& x) { return x.total_sessions() == 15; });
  EXPECT_EQ(st.total_sessions(), 15);
  EXPECT_NE(gw.process().stderr_text().find("moved to backend"), std::string::npos);
}

TEST(Reconnect, ABackendDropInTheMiddleOfASessionIsInvisibleToTheClient) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}, "    on_backend_loss: reconnect\n") + kRoute, 1);
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok());
  std::string first = whoami(c);
  c.send_text("drop");  // the backend closes TCP without a close frame
  // A message sent before wsgate sees the EOF would go to the dying backend
  // and be lost with it (no proxy can know whether it was processed), so the
  // test waits for the move before it speaks again.
  gw.process().wait_for_output("moved to backend", std::chrono::milliseconds(5000));
  EXPECT_NE(whoami(c), first);
  c.send_binary(std::string(100000, 'z'));
  Message m = c.recv_message();
  EXPECT_EQ(m.opcode, kBinary);
  EXPECT_EQ(m.payload.size(), 100000u);
}

TEST(Reconnect, WithNoOtherBackendTheClientGets1012) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}, "    on_backend_loss: reconnect\n") + kRoute, 1);
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok());
  a.process().send_signal(SIGKILL);
  EXPECT_EQ(c.expect_close(std::chrono::milliseconds(5000)).code, 1012);
}

TEST(CloseHandshake, ABackendThatDiesBeforeAnsweringAClientsCloseGetsTheClientItsOwnCodeBack) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 1);
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok());
  a.process().send_signal(SIGSTOP);  // it will never answer the close
  c.close(4000, "client bye");
  a.process().send_signal(SIGKILL);
  CloseInfo ci = c.expect_close(std::chrono::milliseconds(3000));
  EXPECT_EQ(ci.code, 4000) << "the client began the close; wsgate should not invent another code";
  EXPECT_EQ(ci.reason, "client bye");
}

TEST(LossSpread, ClosesOfOneLossAreSpreadOverTheWindow) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}, "    loss_spread: 1500ms\n") + kRoute, 1);
  auto sessions = open_sessions(gw, 40);
  auto t0 = Clock::now();
  b.process().send_signal(SIGKILL);
  // One thread per session, so each close is timed when it arrives, not
  // when a sequential reader gets to it.
  std::vector<long> at_ms;
  std::mutex mu;
  std::vector<std::thread> waiters;
  for (auto& s : sessions) {
    if (s.backend == "b") {
      waiters.emplace_back([&, c = &s.client] {
        CloseInfo ci = c->expect_close(std::chrono::milliseconds(4000));
        long t = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_EQ(ci.code, 1012);
        at_ms.push_back(t);
      });
    }
  }
  for (auto& w : waiters) {
    w.join();
  }
  ASSERT_EQ(at_ms.size(), 20u);
  auto [lo, hi] = std::minmax_element(at_ms.begin(), at_ms.end());
  EXPECT_LT(*hi, 2500) << "closes came later than loss_spread allows";
  EXPECT_GT(*hi - *lo, 500) << "20 closes within " << (*hi - *lo) << " ms: not spread";
  // The others were never touched.
  for (auto& s : sessions) {
    if (s.backend == "a") {
      s.client.send_text("ok?");
      EXPECT_EQ(s.client.recv_message().payload, "ok?");
    }
  }
}

TEST(HealthLoss, SessionsOnAFrozenBackendAreClosedOnceTheProberSeesIt) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()},
                       "    health: { interval: 200ms, timeout: 200ms, fall: 2, rise: 2 }\n"
                       "    loss_spread: 200ms\n") +
                 kRoute,
             2);
  auto sessions = open_sessions(gw, 10);
  auto t0 = Clock::now();
  b.process().send_signal(SIGSTOP);
  for (auto& s : sessions) {
    if (s.backend == "b") {
      // Its TCP is still open: only the health checks can tell.
      EXPECT_EQ(s.client.expect_close(std::chrono::milliseconds(3000)).code, 1012);
    }
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  // interval * fall + timeout + 0.5 s, plus the watcher's 100 ms and the spread.
  EXPECT_LT(took, 200 * 2 + 200 + 500 + 100 + 200 + 300);
  b.process().send_signal(SIGCONT);
  Status st = gw.wait_status([](const Status& x) { return x.total_sessions() == 5; });
  EXPECT_EQ(st.total_sessions(), 5);
}

TEST(StormControl, HandshakesBeyondTheRateGet503AndLiveSessionsAreUntouched) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}, "    max_handshake_rate: 5\n") + kRoute, 2);
  WsClient live = gw.open("/chat");
  ASSERT_TRUE(live.handshake_ok());
  // 30 attempts over about 1.5 s against 5/s: about 7 may pass, the rest wait.
  int ok = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    WsClient c = gw.open("/chat");
    if (c.handshake_ok()) {
      ++ok;
    } else {
      EXPECT_EQ(c.status(), 503);
      EXPECT_TRUE(c.response().header("Retry-After").has_value());
      ++limited;
    }
  }
  EXPECT_GE(limited, 15);
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 12);
  live.send_text("still here");
  EXPECT_EQ(live.recv_message().payload, "still here");
}

// A backend that comes back is ramped in, not flooded: with least_conn alone
// every new session would go to the empty backend.
int sessions_to_recovered_backend(const std::string& slow_start) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()},
                       "    health: { interval: 100ms, timeout: 100ms, fall: 1, rise: 1 }\n" + slow_start) +
                 kRoute,
             1);
  b.process().send_signal(SIGSTOP);
  gw.wait_status([&](const Status& s) { return s.find("127.0.0.1:" + std::to_string(b.port()))->state == "down"; });
  auto on_a = open_sessions(gw, 10);
  b.process().send_signal(SIGCONT);
  gw.wait_status([&](const Status& s) { return s.find("127.0.0.1:" + std::to_string(b.port()))->state == "up"; });
  auto fresh = open_sessions(gw, 10);
  return static_cast<int>(std::count_if(fresh.begin(), fresh.end(), [](const Landed& l) { return l.backend == "b"; }));
}

TEST(StormControl, SlowStartRampsARecoveredBackendIn) {
  EXPECT_EQ(sessions_to_recovered_backend(""), 10);
  EXPECT_LE(sessions_to_recovered_backend("    slow_start: 20s\n"), 3);
}

}  // namespace
}  // namespace wsgate::test
