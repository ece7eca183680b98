// Active health checks through the real binary: the prober's slot, detection
// of a dead, a frozen and a refusing backend within interval * fall +
// timeout, recovery within interval * rise + timeout, the prober's respawn,
// passive failures counting toward `fall`, and what `status` shows.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "shm/backend_table.h"
#include "shm/segment.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";
// interval * fall + timeout = 600 ms to notice a backend that stops
// answering; interval * rise + timeout = 600 ms to trust it again.
const std::string kFastChecks = "    health: { interval: 200ms, timeout: 200ms, fall: 2, rise: 2 }\n";
constexpr long kDetectMs = 200 * 2 + 200 + 500;  // the bound, plus 0.5 s of slack

// The health part of one backend's status object (the keys after per_worker).
struct Health {
  std::string state, health, last_error;
  double rtt_ms = -1;  // -1: null, no good check yet
  long checks_ok = 0, checks_failed = 0;
};

struct Report {
  std::map<std::string, Health> backends;  // by address
  std::vector<std::string> roles;          // by slot
  std::vector<int> pids;                   // by slot
  const Health& at(const std::string& address) const { return backends.at(address); }
};

std::string capture(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

// A small reader for the keys tests/support/gateway.cpp does not parse.
Report parse_report(const std::string& json) {
  Report r;
  std::regex worker(R"re(\{"slot":\d+,"pid":(-?\d+),[^}]*"role":"([a-z]+)"[^}]*\})re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), worker); it != std::sregex_iterator(); ++it) {
    r.pids.push_back(std::stoi((*it)[1]));
    r.roles.push_back((*it)[2]);
  }
  size_t at = json.find("{\"pool\":");
  while (at != std::string::npos) {
    size_t next = json.find("{\"pool\":", at + 1);
    std::string obj = json.substr(at, next == std::string::npos ? std::string::npos : next - at);
    Health h;
    h.state = capture(obj, R"re("state":"([a-z]+)")re");
    h.health = capture(obj, R"re("health":"([a-z]+)")re");
    std::string rtt = capture(obj, R"re("rtt_ms":([0-9.]+|null))re");
    h.rtt_ms = rtt.empty() || rtt == "null" ? -1 : std::stod(rtt);
    h.checks_ok = std::stol("0" + capture(obj, R"re("checks_ok":(\d+))re"));
    h.checks_failed = std::stol("0" + capture(obj, R"re("checks_failed":(\d+))re"));
    h.last_error = capture(obj, R"re("last_error":"((?:[^"\\]|\\.)*)")re");
    r.backends[capture(obj, R"re("address":"([^"]*)")re")] = h;
    at = next;
  }
  return r;
}

Report report(const Gateway& gw) {
  CommandResult r = run_wsgate({"status", "-c", gw.config_path(), "--json"});
  if (r.code != 0) {
    throw TestIoError("wsgate status failed: " + r.err);
  }
  return parse_report(r.out);
}

// Polls until `pred` holds; returns the milliseconds it took, or -1.
template <class Pred>
long wait_for(const Gateway& gw, Pred pred, milliseconds timeout = milliseconds(5000)) {
  auto t0 = Clock::now();
  while (Clock::now() - t0 < timeout) {
    if (pred(report(gw))) {
      return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return -1;
}

std::string address(const EchoBackend& be) { return "127.0.0.1:" + std::to_string(be.port()); }

// The instance's shared table, mapped read-only as `wsgate status` maps it.
// Timings are taken here, polled every millisecond: one `wsgate status` run
// costs ~200 ms under the sanitizers, which would blur what is measured.
class Table {
 public:
  explicit Table(const Gateway& gw) : seg_(shm::Segment::attach_read_only(name_of(gw.config_path()))) {}

  bool routable(const std::string& address) const {
    const shm::BackendTable t(const_cast<shm::Table&>(*seg_.table()));  // readers only
    for (uint32_t b = 0; b < t.backend_count(); ++b) {
      if (address == t.backend(b).address) {
        return t.available(b, shm::monotonic_ms());
      }
    }
    throw TestIoError("no backend " + address + " in the shared table");
  }

  // Milliseconds until routable(address) == want, or -1 after `timeout`.
  long wait_routable(const std::string& address, bool want, milliseconds timeout = milliseconds(5000)) const {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < timeout) {
      if (routable(address) == want) {
        return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    return -1;
  }

 private:
  static std::string name_of(const std::string& config_path) {
    char buf[PATH_MAX];
    return shm::segment_name_for(realpath(config_path.c_str(), buf));
  }
  shm::Segment seg_;
};

std::string whoami(WsClient& c) {
  c.send_text("whoami");
  return c.recv_message().payload;
}

// Two proxy workers and the prober in slot 2, every backend checked once.
struct Checked : ::testing::Test {
  EchoBackend a{"a"}, b{"b"}, c{"c"};
  std::unique_ptr<Gateway> gw;

  void start(const std::string& health = kFastChecks, const std::string& extra = "") {
    gw = std::make_unique<Gateway>(pool_yaml("chat", {a.port(), b.port(), c.port()}, health + extra) + kRoute, 2);
    gw->process().wait_for_output("prober for slot 2 ready", milliseconds(10000));
    long ms = wait_for(*gw, [&](const Report& r) {
      for (const EchoBackend* be : {&a, &b, &c}) {
        if (r.at(address(*be)).checks_ok < 1) {
          return false;
        }
      }
      return true;
    });
    ASSERT_GE(ms, 0) << "the first checks did not succeed: " << gw->process().stderr_text();
  }
};

TEST_F(Checked, TheProberHasItsOwnSlotAfterTheProxies) {
  start();
  Report r = report(*gw);
  ASSERT_EQ(r.roles, (std::vector<std::string>{"proxy", "proxy", "prober"}));
  EXPECT_GT(r.pids.at(2), 0);
  Status s = gw->status();
  for (const auto& be : s.backends) {
    ASSERT_EQ(be.per_worker.size(), 3u);
    EXPECT_EQ(be.per_worker.at(2), 0) << "the prober's row of the session table stays zero";
  }
  for (const EchoBackend* be : {&a, &b, &c}) {
    const Health& h = r.at(address(*be));
    EXPECT_EQ(h.state, "up");
    EXPECT_EQ(h.health, "up");
    EXPECT_GT(h.rtt_ms, 0.0);
    EXPECT_EQ(h.last_error, "");
  }
  CommandResult text = run_wsgate({"status", "-c", gw->config_path()});
  EXPECT_NE(text.out.find("slot 2  prober"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("RTT MS"), std::string::npos) << text.out;
}

TEST_F(Checked, AKilledBackendIsDownWithinTheBoundAndNewSessionsGoToTheOthers) {
  start();
  Table table(*gw);
  c.process().send_signal(SIGKILL);
  long ms = table.wait_routable(address(c), false);
  ASSERT_GE(ms, 0) << "never marked down";
  EXPECT_LE(ms, kDetectMs);
  std::cout << "[ measured ] killed backend down after " << ms << " ms\n";
  c.process().wait_exit();

  Report r = report(*gw);
  EXPECT_EQ(r.at(address(c)).state, "down");
  EXPECT_EQ(r.at(address(c)).health, "down");
  EXPECT_NE(r.at(address(c)).last_error.find("connect() failed (111: "), std::string::npos)
      << r.at(address(c)).last_error;
  EXPECT_GE(r.at(address(c)).checks_failed, 2);
  EXPECT_GT(r.at(address(a)).rtt_ms, 0.0);

  std::map<std::string, int> landed;
  std::vector<WsClient> sessions;
  for (int i = 0; i < 30; ++i) {
    WsClient cl = gw->open("/chat");
    ASSERT_TRUE(cl.handshake_ok()) << cl.handshake_error();
    ++landed[whoami(cl)];
    sessions.push_back(std::move(cl));
  }
  EXPECT_EQ(landed.count("c"), 0u);
  EXPECT_EQ(landed["a"] + landed["b"], 30);
  EXPECT_NEAR(landed["a"], 15, 2);
  EXPECT_TRUE(
      gw->process().has_output("backend chat/" + address(c) + " is down after 2 failed checks: connect() failed"))
      << gw->process().stderr_text();
}

TEST_F(Checked, AFrozenBackendIsDownThoughItsTcpStaysOpenAndUpAgainAfterSigcont) {
  start();
  // A session on b keeps its TCP connection open the whole time.
  WsClient held;
  for (int i = 0; i < 6 && !held.handshake_ok(); ++i) {
    WsClient cl = gw->open("/chat");
    ASSERT_TRUE(cl.handshake_ok()) << cl.handshake_error();
    if (whoami(cl) == "b") {
      held = std::move(cl);
    }
  }
  ASSERT_TRUE(held.handshake_ok()) << "no session landed on b";

  Table table(*gw);
  b.process().send_signal(SIGSTOP);
  long down_ms = table.wait_routable(address(b), false);
  Report r = report(*gw);
  b.process().send_signal(SIGCONT);
  ASSERT_GE(down_ms, 0) << "a frozen backend was never marked down";
  EXPECT_LE(down_ms, kDetectMs);
  std::cout << "[ measured ] SIGSTOPped backend down after " << down_ms << " ms\n";
  EXPECT_EQ(r.at(address(b)).state, "down");
  EXPECT_EQ(r.at(address(b)).last_error, "no 101 within 200 ms");

  long up_ms = table.wait_routable(address(b), true);
  ASSERT_GE(up_ms, 0) << "never came back up";
  EXPECT_LE(up_ms, kDetectMs);
  std::cout << "[ measured ] SIGCONTed backend up after " << up_ms << " ms\n";
  EXPECT_EQ(report(*gw).at(address(b)).state, "up");
  EXPECT_TRUE(gw->process().has_output("backend chat/" + address(b) + " is up again after 2 good checks"));
  // The session that sat on the frozen backend was handed the pool's
  // on_backend_loss (close, the default): a 1012 once the prober saw it down.
  EXPECT_EQ(held.expect_close(std::chrono::milliseconds(3000)).code, 1012);
}

TEST_F(Checked, AKilledProberIsRespawnedIntoItsSlotAndKeepsChecking) {
  start();
  Report before = report(*gw);
  int victim = before.pids.at(2);
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  long ms = wait_for(*gw, [&](const Report& r) { return r.pids.at(2) > 0 && r.pids.at(2) != victim; });
  ASSERT_GE(ms, 0) << "the prober was not respawned";
  // The master reaps within its 200 ms wait; the bound is generous for a
  // loaded 2-core machine (1.6 s seen under ASan with the suite in parallel).
  EXPECT_LT(ms, 3000);
  Report after = report(*gw);
  EXPECT_EQ(after.roles.at(2), "prober");
  EXPECT_EQ(after.pids.at(0), before.pids.at(0)) << "proxy workers are untouched";
  EXPECT_TRUE(gw->process().has_output("prober 2 (pid " + std::to_string(victim) + ") was killed by signal 9"));

  // The new prober keeps counting, and still takes a frozen backend down.
  long ok_before = after.at(address(a)).checks_ok;
  EXPECT_GE(wait_for(*gw, [&](const Report& r) { return r.at(address(a)).checks_ok >= ok_before + 3; }), 0);
  Table table(*gw);
  a.process().send_signal(SIGSTOP);
  long down_ms = table.wait_routable(address(a), false);
  a.process().send_signal(SIGCONT);
  EXPECT_GE(down_ms, 0);
  EXPECT_LE(down_ms, kDetectMs);
}

TEST_F(Checked, GracefulClosesNeverCountAsFailures) {
  start("    health: { interval: 1h, timeout: 1s, fall: 1, rise: 1 }\n");
  for (int i = 0; i < 6; ++i) {
    WsClient cl = gw->open("/chat");
    ASSERT_TRUE(cl.handshake_ok()) << cl.handshake_error();
    if (i % 2 == 0) {
      cl.close(1000);  // the client closes
      EXPECT_EQ(cl.expect_close().code, 1000);
    } else {
      cl.send_text("close:1000:bye");  // the backend closes
      EXPECT_EQ(cl.expect_close().code, 1000);
      cl.close(1000);
    }
  }
  Report r = report(*gw);
  for (const EchoBackend* be : {&a, &b, &c}) {
    EXPECT_EQ(r.at(address(*be)).state, "up");
    EXPECT_EQ(r.at(address(*be)).checks_failed, 0);
  }
}

TEST(HealthPath, ABackendRefusingTheHealthPathIsDownWithItsStatus) {
  EchoBackend a{"a"}, b{"b"};
  // b refuses every request with 503; the path carries the query as is.
  Gateway gw("pools:\n  chat:\n    backends: [127.0.0.1:" + std::to_string(a.port()) + "]\n" +
                 "    health: { interval: 200ms, timeout: 200ms, fall: 2 }\n" +
                 "  busy:\n    backends: [127.0.0.1:" + std::to_string(b.port()) + "]\n" +
                 "    health: { interval: 200ms, timeout: 200ms, fall: 2, path: \"/?mode=status-503\" }\n" +
                 "routes:\n  - { path: /chat, pool: chat }\n  - { path: /busy, pool: busy }\n",
             1);
  long ms = wait_for(gw, [&](const Report& r) { return r.at(address(b)).state == "down"; });
  ASSERT_GE(ms, 0);
  Report r = report(gw);
  EXPECT_EQ(r.at(address(b)).last_error, "answered 503");
  EXPECT_EQ(r.at(address(b)).rtt_ms, -1) << "no check of b ever succeeded";
  EXPECT_EQ(r.at(address(a)).state, "up");
  // No healthy backend left in that pool: the client is told so at once.
  WsClient cl = gw.open("/busy");
  EXPECT_EQ(cl.status(), 503);
}

TEST(PassiveHealth, FailedDialsTakeABackendDownWithoutWaitingForTheProber) {
  EchoBackend a{"a"};
  // Checks every hour: after the first one, only passive failures can act.
  Gateway gw(
      pool_yaml("chat", {a.port()}, "    retries: 0\n    health: { interval: 1h, timeout: 1s, fall: 2, rise: 1 }\n") +
          kRoute,
      2);
  ASSERT_GE(wait_for(gw, [&](const Report& r) { return r.at(address(a)).checks_ok == 1; }), 0);
  a.process().send_signal(SIGKILL);
  a.process().wait_exit();

  WsClient first = gw.open("/chat");
  EXPECT_EQ(first.status(), 502);
  EXPECT_EQ(report(gw).at(address(a)).state, "up") << "one failure is not `fall`";
  WsClient second = gw.open("/chat");
  EXPECT_EQ(second.status(), 502);
  Report r = report(gw);
  EXPECT_EQ(r.at(address(a)).state, "down");
  EXPECT_EQ(r.at(address(a)).health, "down");
  EXPECT_EQ(r.at(address(a)).checks_failed, 2);
  EXPECT_FALSE(r.at(address(a)).last_error.empty());
  WsClient third = gw.open("/chat");
  EXPECT_EQ(third.status(), 503) << "a down backend is not dialed";
}

TEST(ProberLife, StopsWithSigtermAndWithItsMaster) {
  EchoBackend a{"a"};
  auto gw = std::make_unique<Gateway>(pool_yaml("chat", {a.port()}, kFastChecks) + kRoute, 1);
  gw->process().wait_for_output("prober for slot 1 ready", milliseconds(10000));
  int prober = report(*gw).pids.at(1);
  ASSERT_GT(prober, 0);
  gw->process().send_signal(SIGKILL);  // the master dies; the prober must notice
  gw->process().wait_exit();
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (kill(prober, 0) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_NE(kill(prober, 0), 0) << "the prober outlived its master";

  // A restart with the same file replaces the dead master's segment, and a
  // graceful stop ends the prober with the workers and removes it.
  ChildProcess again({wsgate_path(), "-c", gw->config_path()});
  again.wait_for_output("prober for slot 1 ready", milliseconds(10000));
  ExitStatus st = again.stop(milliseconds(5000));
  EXPECT_TRUE(st.ok()) << st.describe();
  EXPECT_TRUE(again.has_output("prober 1 (pid")) << again.stderr_text();
  EXPECT_TRUE(again.has_output("stopping (SIGTERM)")) << again.stderr_text();
}

}  // namespace
}  // namespace wsgate::test
