// Reloads (SIGHUP), graceful drain (SIGQUIT) and generations, through the
// real binary: what clients see while the config changes under them.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "shm/segment.h"
#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";
const std::string kTwoRoutes = "routes:\n  - { path: /chat, pool: chat }\n  - { path: /new, pool: chat }\n";

// Rewrites the gateway's config (same listen address) and sends SIGHUP.
void reload(Gateway& gw, unsigned workers, const std::string& body) {
  write_file(gw.config_path(),
             "listen: 127.0.0.1:" + std::to_string(gw.port()) + "\nworkers: " + std::to_string(workers) + "\n" + body);
  gw.process().send_signal(SIGHUP);
}

std::string whoami(WsClient& ws) {
  ws.send_text("whoami");
  return ws.recv_message().payload;
}

void expect_echo(WsClient& ws, const std::string& text) {
  ws.send_text(text);
  EXPECT_EQ(ws.recv_message().payload, text);
}

std::vector<WsClient> open_many(const Gateway& gw, int n, const std::string& path = "/chat") {
  std::vector<WsClient> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(gw.open(path));
    EXPECT_TRUE(out.back().handshake_ok()) << out.back().handshake_error();
  }
  return out;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// True once a connection to `port` is refused, within about a second.
bool refused_soon(std::uint16_t port) {
  for (int i = 0; i < 20; ++i) {
    try {
      WsClient::connect(port, 500ms);
      usleep(50 * 1000);
    } catch (const TestIoError&) {
      return true;
    }
  }
  return false;
}

TEST(ReloadInPlace, AddedBackendTakesNewSessionsAndNoWorkerIsReplaced) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto before = open_many(gw, 6);
  const std::vector<int> pids = sorted(gw.status().proxies());
  ASSERT_EQ(pids.size(), 2u);

  reload(gw, 2, pool_yaml("chat", {a.port(), b.port()}) + kRoute);
  gw.process().wait_for_output("applied in place (pools)");
  // Each worker applies it on its next 100 ms tick.
  gw.process().wait_for_output(
      R"(worker \d+\[\d+\]: reload applied in place.*\n(.*\n)*.*worker \d+\[\d+\]: reload applied in place)", 5000ms,
      Match::kRegex);
  // Least connections over both workers: all six new sessions go to b.
  auto after = open_many(gw, 6);
  for (auto& ws : after) {
    EXPECT_EQ(whoami(ws), "b");
  }
  for (auto& ws : before) {
    expect_echo(ws, "still here");
  }
  const Status st = gw.status();
  EXPECT_EQ(sorted(st.proxies()), pids) << "an in-place reload replaces no worker";
  EXPECT_EQ(st.generation, 1);
  EXPECT_EQ(st.reloads_ok, 1);
  ASSERT_NE(st.find("127.0.0.1:" + std::to_string(b.port())), nullptr);
}

TEST(ReloadInPlace, RemovedBackendIsMarkedAndGetsNoNewSessions) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}) + kRoute, 2);
  auto before = open_many(gw, 4);
  std::vector<std::string> on;
  for (auto& ws : before) {
    on.push_back(whoami(ws));
  }
  ASSERT_EQ(std::count(on.begin(), on.end(), "b"), 2);

  reload(gw, 2, pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().wait_for_output("applied in place (pools)");
  const Status st = gw.wait_status([&](const Status& s) {
    const BackendStatus* gone = s.find("127.0.0.1:" + std::to_string(b.port()));
    return gone != nullptr && gone->state == "removed";
  });
  ASSERT_NE(st.find("127.0.0.1:" + std::to_string(b.port())), nullptr);
  EXPECT_EQ(st.find("127.0.0.1:" + std::to_string(b.port()))->state, "removed");
  usleep(300 * 1000);  // every worker's next tick
  auto after = open_many(gw, 6);
  for (auto& ws : after) {
    EXPECT_EQ(whoami(ws), "a");
  }
  // Its sessions are moved off like a drain (this pool closes: 1012).
  for (size_t i = 0; i < before.size(); ++i) {
    if (on[i] == "b") {
      EXPECT_EQ(before[i].expect_close(5000ms).code, 1012);
    } else {
      expect_echo(before[i], "a stays");
    }
  }
}

TEST(ReloadInPlace, BrokenFileChangesNothing) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto before = open_many(gw, 4);
  const std::vector<int> pids = sorted(gw.status().proxies());

  write_file(gw.config_path(), "listen: 127.0.0.1:" + std::to_string(gw.port()) + "\nworkers: 2\npools: [\n");
  gw.process().send_signal(SIGHUP);
  const std::string line =
      gw.process().wait_for_output(R"(SIGHUP: [^\n]*the running configuration is unchanged)", 5000ms, Match::kRegex);
  EXPECT_NE(line.find(gw.config_path() + ":"), std::string::npos) << "names the file and line: " << line;
  for (auto& ws : before) {
    expect_echo(ws, "unchanged");
  }
  WsClient fresh = gw.open("/chat");
  ASSERT_TRUE(fresh.handshake_ok()) << fresh.handshake_error();
  const Status st = gw.status();
  EXPECT_EQ(sorted(st.proxies()), pids);
  EXPECT_EQ(st.reloads_failed, 1);
  EXPECT_EQ(st.generation, 1);
}

TEST(ReloadGeneration, RouteChangeStartsANewGenerationAndOldSessionsKeepEchoing) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto old_sessions = open_many(gw, 8);
  WsClient missing = gw.open("/new");
  EXPECT_EQ(missing.status(), 404);
  const std::vector<int> gen1 = sorted(gw.status().proxies(1));

  reload(gw, 2, pool_yaml("chat", {a.port()}) + kTwoRoutes);
  gw.process().wait_for_output("generation 2 accepts now (routes)");
  Status st = gw.status();
  EXPECT_EQ(st.generation, 2);
  EXPECT_EQ(st.proxies(2).size(), 2u);
  EXPECT_EQ(sorted(st.proxies(1)), gen1) << "the old generation stays while it has sessions";
  EXPECT_EQ(st.draining_generations, 1);
  for (auto& ws : old_sessions) {
    expect_echo(ws, "kept across the reload");
  }
  auto fresh = open_many(gw, 4, "/new");
  for (auto& ws : fresh) {
    expect_echo(ws, "new route");
  }
  // The old generation goes once its last session ends.
  for (auto& ws : old_sessions) {
    ws.close(1000);
    ws.expect_close(3000ms);
  }
  st = gw.wait_status([](const Status& s) { return s.proxies(1).empty() && s.draining_generations == 0; }, 5000ms);
  EXPECT_TRUE(st.proxies(1).empty());
  EXPECT_EQ(st.draining_generations, 0);
  gw.process().wait_for_output("generation 1 is gone");
  for (int pid : gen1) {
    EXPECT_NE(kill(pid, 0), 0) << "pid " << pid << " of generation 1 still runs";
  }
}

TEST(ReloadGeneration, LeftoversGet1001AtTheDrainTimeout) {
  EchoBackend a{"a"};
  Gateway gw("drain_timeout: 1s\n" + pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto old_sessions = open_many(gw, 6);
  reload(gw, 2, "drain_timeout: 1s\n" + pool_yaml("chat", {a.port()}) + kTwoRoutes);
  gw.process().wait_for_output("generation 2 accepts now");
  const auto switched = Clock::now();
  for (auto& ws : old_sessions) {
    const CloseInfo ci = ws.expect_close(5000ms);
    EXPECT_EQ(ci.code, 1001);
    ws.close(1001);
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - switched);
  EXPECT_GE(waited.count(), 800) << "closed before the drain timeout";
  gw.process().wait_for_output("generation 1 is gone", 5000ms);
  WsClient fresh = gw.open("/new");
  ASSERT_TRUE(fresh.handshake_ok()) << fresh.handshake_error();
}

TEST(ReloadGeneration, MoreThanMaxGenerationsEndsTheOldestDrain) {
  EchoBackend a{"a"};
  const std::string base = "max_generations: 1\n" + pool_yaml("chat", {a.port()});
  Gateway gw(base + kRoute, 1);
  WsClient first = gw.open("/chat");
  ASSERT_TRUE(first.handshake_ok()) << first.handshake_error();
  reload(gw, 1, base + kTwoRoutes);
  gw.process().wait_for_output("generation 2 accepts now");
  // Until its SIGQUIT is handled, generation 1 may still take a connection.
  gw.process().wait_for_output("draining: no new connections");
  WsClient second = gw.open("/chat");
  ASSERT_TRUE(second.handshake_ok()) << second.handshake_error();
  expect_echo(first, "generation 1 drains");

  reload(gw, 1, base + "routes:\n  - { path: /chat, pool: chat }\n  - { path: /third, pool: chat }\n");
  gw.process().wait_for_output("generation 3 accepts now");
  // Generation 1's drain ends now (default drain_timeout is 5 minutes).
  const CloseInfo ci = first.expect_close(5000ms);
  EXPECT_EQ(ci.code, 1001);
  first.close(1001);
  expect_echo(second, "generation 2 still drains");
  gw.process().wait_for_output("generation 1 is gone", 5000ms);
}

TEST(ReloadGeneration, WorkerCountShrinksAndGrows) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto kept = open_many(gw, 4);
  reload(gw, 1, pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().wait_for_output("generation 2 accepts now (workers 2 -> 1)");
  EXPECT_EQ(gw.status().proxies(2).size(), 1u);
  // Both listening sockets of the address are served by the one worker.
  auto one = open_many(gw, 20);
  reload(gw, 3, pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().wait_for_output("generation 3 accepts now (workers 1 -> 3)");
  EXPECT_EQ(gw.status().proxies(3).size(), 3u);
  auto three = open_many(gw, 30);
  for (auto* group : {&kept, &one, &three}) {
    for (auto& ws : *group) {
      expect_echo(ws, "every generation's sessions echo");
    }
  }
}

TEST(ReloadGeneration, ListenAddressIsAddedAndRemoved) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  const std::uint16_t other = free_port();
  write_file(gw.config_path(), "listen: [127.0.0.1:" + std::to_string(gw.port()) + ", 127.0.0.1:" +
                                   std::to_string(other) + "]\nworkers: 2\n" + pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().send_signal(SIGHUP);
  gw.process().wait_for_output("generation 2 accepts now (listen)");
  WsClient via_other = WsClient::open(other, "/chat");
  ASSERT_TRUE(via_other.handshake_ok()) << via_other.handshake_error();
  WsClient via_first = gw.open("/chat");
  ASSERT_TRUE(via_first.handshake_ok()) << via_first.handshake_error();

  write_file(gw.config_path(),
             "listen: 127.0.0.1:" + std::to_string(other) + "\nworkers: 2\n" + pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().send_signal(SIGHUP);
  gw.process().wait_for_output("generation 3 accepts now (listen)");
  // The old generation closes its copies on its SIGQUIT, a moment after the
  // master closed its own.
  EXPECT_TRUE(refused_soon(gw.port())) << "the removed address still accepts";
  expect_echo(via_first, "accepted before the address went");
  WsClient again = WsClient::open(other, "/chat");
  ASSERT_TRUE(again.handshake_ok()) << again.handshake_error();
}

TEST(ReloadGeneration, BindFailureOfANewAddressChangesNothing) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  // Taken by someone else (no SO_REUSEPORT): the master cannot bind it.
  const std::uint16_t taken = a.port();
  write_file(gw.config_path(), "listen: [127.0.0.1:" + std::to_string(gw.port()) + ", 127.0.0.1:" +
                                   std::to_string(taken) + "]\nworkers: 2\n" + pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().send_signal(SIGHUP);
  gw.process().wait_for_output("the running configuration is unchanged");
  const Status st = gw.status();
  EXPECT_EQ(st.generation, 1);
  EXPECT_EQ(st.reloads_failed, 1);
  WsClient ws = gw.open("/chat");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
}

TEST(Sigquit, SessionsFinishThenTheMasterExitsZero) {
  EchoBackend a{"a"};
  Gateway gw("drain_timeout: 30s\n" + pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto sessions = open_many(gw, 4);
  gw.process().send_signal(SIGQUIT);
  gw.process().wait_for_output("SIGQUIT received");
  // No new connections: the listening sockets are closed.
  EXPECT_TRUE(refused_soon(gw.port()));
  for (auto& ws : sessions) {
    expect_echo(ws, "finishing my work");
  }
  EXPECT_FALSE(gw.process().try_wait_exit(300ms).has_value()) << "exited while sessions were open";
  for (auto& ws : sessions) {
    ws.close(1000);
    ws.expect_close(3000ms);
  }
  const ExitStatus st = gw.process().wait_exit(5000ms);
  EXPECT_TRUE(st.ok()) << st.describe();
}

TEST(Sigquit, LeftoversGet1001AtTheDrainTimeout) {
  EchoBackend a{"a"};
  Gateway gw("drain_timeout: 1s\n" + pool_yaml("chat", {a.port()}) + kRoute, 2);
  auto sessions = open_many(gw, 4);
  gw.process().send_signal(SIGQUIT);
  for (auto& ws : sessions) {
    EXPECT_EQ(ws.expect_close(5000ms).code, 1001);
    ws.close(1001);
  }
  const ExitStatus st = gw.process().wait_exit(5000ms);
  EXPECT_TRUE(st.ok()) << st.describe();
}

TEST(ReloadInPlace, HealthChecksAddedAndRemovedStartAndStopTheProber) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 2);
  EXPECT_EQ(gw.status().pid_of("prober"), 0);
  reload(gw, 2, pool_yaml("chat", {a.port()}, "    health: { interval: 200ms, timeout: 200ms }\n") + kRoute);
  gw.process().wait_for_output("applied in place (pools)");
  Status st = gw.wait_status([](const Status& s) { return s.pid_of("prober") > 0; });
  EXPECT_GT(st.pid_of("prober"), 0);
  const int prober = st.pid_of("prober");
  reload(gw, 2, pool_yaml("chat", {a.port()}) + kRoute);
  st = gw.wait_status([&](const Status& s) { return s.pid_of("prober") == 0; });
  EXPECT_EQ(st.pid_of("prober"), 0);
  for (int i = 0; i < 50 && kill(prober, 0) == 0; ++i) {
    usleep(20 * 1000);
  }
  EXPECT_NE(kill(prober, 0), 0) << "the prober still runs";
  WsClient ws = gw.open("/chat");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
}

// ---------------------------------------------------------------- streams

std::string stream_body(const std::string& source, const std::string& extra_stream = "",
                        const std::string& extra_routes = "") {
  return "streams:\n  fx:\n    source: " + source + "\n" + extra_stream + "routes:\n  - { path: /fx, stream: fx }\n" +
         extra_routes;
}

uint64_t next_seq(WsClient& c) {
  const Message m = c.recv_message(5000ms);
  std::optional<FeedMessage> f = parse_feed_message(m.payload);
  if (!f) {
    throw TestIoError("not a feed message: " + m.payload.substr(0, 120));
  }
  return f->seq;
}

// Reads until `n` messages arrived, each the one after the last.
void expect_gapless(WsClient& c, int n) {
  uint64_t last = next_seq(c);
  for (int i = 1; i < n; ++i) {
    const uint64_t seq = next_seq(c);
    ASSERT_EQ(seq, last + 1);
    last = seq;
  }
}

TEST(ReloadStreams, UnchangedStreamsKeepTheFeederAndTheSourceSeesOneConnection) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_body(feed.url("/live")), 2);
  WsClient before = gw.open("/fx");
  ASSERT_TRUE(before.handshake_ok()) << before.handshake_error();
  expect_gapless(before, 5);
  const int feeder = gw.status().pid_of("feeder");

  reload(gw, 2, stream_body(feed.url("/live"), "", "  - { path: /fx2, stream: fx }\n"));
  gw.process().wait_for_output("generation 2 accepts now (routes)");
  WsClient after = gw.open("/fx2");
  ASSERT_TRUE(after.handshake_ok()) << after.handshake_error();
  expect_gapless(after, 5);
  expect_gapless(before, 20);
  EXPECT_EQ(gw.status().pid_of("feeder"), feeder);
  EXPECT_EQ(feed.stats().connections_total, 1u) << "the upstream was reopened";
}

TEST(ReloadStreams, ChangedStreamsGetANewSetWhileOldSubscribersKeepTheirs) {
  FeedSource feed("fx", 100);
  Gateway gw(stream_body(feed.url("/live")), 2);
  WsClient before = gw.open("/fx");
  ASSERT_TRUE(before.handshake_ok()) << before.handshake_error();
  expect_gapless(before, 5);

  reload(gw, 2, stream_body(feed.url("/live"), "    history: 5\n"));
  gw.process().wait_for_output("generation 2 accepts now (streams)");
  gw.process().wait_for_output("draining: no new connections");
  WsClient after = gw.open("/fx");
  ASSERT_TRUE(after.handshake_ok()) << after.handshake_error();
  expect_gapless(after, 10);
  expect_gapless(before, 20);  // fed by the old set's feeder while generation 1 drains
  EXPECT_EQ(feed.stats().connections_open, 2u) << "one upstream per set while both are in use";

  before.close(1000);
  before.expect_close(3000ms);
  gw.process().wait_for_output("stream set 1 is no longer used", 5000ms);
  feed.wait_stats([](const FeedStats& s) { return s.connections_open == 1; });
  EXPECT_EQ(feed.stats().connections_open, 1u);
  expect_gapless(after, 10);
}

TEST(ReloadStreams, MasterKilledAfterReloadsLeavesNothingARestartCannotClean) {
  FeedSource feed("fx", 100);
  auto gw = std::make_unique<Gateway>(stream_body(feed.url("/live")), 2);
  WsClient before = gw->open("/fx");
  ASSERT_TRUE(before.handshake_ok()) << before.handshake_error();
  reload(*gw, 2, stream_body(feed.url("/live"), "    history: 5\n"));
  gw->process().wait_for_output("generation 2 accepts now (streams)");
  const Status st = gw->status();
  std::vector<int> children;
  for (int pid : st.worker_pids) {
    if (pid > 0) {
      children.push_back(pid);
    }
  }
  // The new generation's two workers, two feeders, and the old worker that
  // holds `before` (its idle sibling exited at once).
  ASSERT_GE(children.size(), 5u);
  const std::string config = gw->config_path();
  char real[PATH_MAX];
  const std::string stale = "/dev/shm/" + shm::segment_name_for(realpath(config.c_str(), real)) + "-streams-2";
  ASSERT_TRUE(std::filesystem::exists(stale)) << stale;
  gw->process().send_signal(SIGKILL);
  gw->process().wait_exit();
  // Orphans must notice the master's death within 1 s (P4); a sanitized build
  // spends part of a second more in its exit-time leak check.
#if defined(__SANITIZE_ADDRESS__)
  const auto deadline = Clock::now() + 3s;
#else
  const auto deadline = Clock::now() + 1s;
#endif
  // Orphans are reaped by pid 1 whenever it gets to it: a zombie has exited.
  auto running = [](int pid) {
    if (kill(pid, 0) != 0) {
      return false;
    }
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren == std::string::npos || stat.compare(paren + 2, 1, "Z") != 0;
  };
  auto any_alive = [&] { return std::any_of(children.begin(), children.end(), running); };
  while (any_alive() && Clock::now() < deadline) {
    usleep(20 * 1000);
  }
  std::string survivors;
  for (int pid : children) {
    if (running(pid)) {
      survivors += " " + std::to_string(pid) + ":" + read_file("/proc/" + std::to_string(pid) + "/comm");
    }
  }
  EXPECT_TRUE(survivors.empty()) << "outlived their master past the deadline:" << survivors << "\n"
                                 << gw->process().stderr_text();

  ChildProcess again({wsgate_path(), "-c", config});
  again.wait_for_output("worker for slot 1 ready", 10000ms);
  again.wait_for_output("feeder for slot", 10000ms);
  WsClient c = WsClient::open(gw->port(), "/fx");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error() << again.stderr_text();
  expect_gapless(c, 5);
  EXPECT_FALSE(std::filesystem::exists(stale)) << "the dead master's second stream set is still there";
  EXPECT_EQ(again.stderr_text().find("[error]"), std::string::npos) << again.stderr_text();
}

TEST(ReloadInPlace, TheAdminEndpointMovesWithItsAddress) {
  EchoBackend a{"a"};
  const std::uint16_t first = free_port();
  Gateway gw("admin: 127.0.0.1:" + std::to_string(first) + "\n" + pool_yaml("chat", {a.port()}) + kRoute, 2);
  gw.process().wait_for_output("admin endpoint for slot");
  EXPECT_EQ(http_get(first, "/metrics").status, 200);
  const std::uint16_t second = free_port();
  reload(gw, 2, "admin: 127.0.0.1:" + std::to_string(second) + "\n" + pool_yaml("chat", {a.port()}) + kRoute);
  gw.process().wait_for_output("applied in place (admin)");
  gw.process().wait_for_output("admin endpoint now on 127.0.0.1:" + std::to_string(second));
  HttpResponse r;
  for (int i = 0; i < 50; ++i) {  // the admin process restarts on the new socket
    try {
      r = http_get(second, "/metrics", 1000ms);
      break;
    } catch (const TestIoError&) {
      usleep(50 * 1000);
    }
  }
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("wsgate_reloads_total"), std::string::npos);
  EXPECT_TRUE(refused_soon(first)) << "the old admin address still answers";
}

}  // namespace
}  // namespace wsgate::test
