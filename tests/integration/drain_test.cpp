// Runtime control against the real binary (`wsgate drain | undrain |
// rebalance`): the pace clients see (close 1012 timestamps) within 20% of
// the asked rate, no new session on a draining backend, sessions moved
// without a close in reconnect pools, and a rebalance after scale-out
// ending within 10% of the fair share by itself.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <thread>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

std::string whoami(WsClient& c) {
  c.send_text("whoami");
  return c.recv_message().payload;
}

std::string status_json(const Gateway& gw) { return run_wsgate({"status", "-c", gw.config_path(), "--json"}).out; }

std::string rebalance_state(const Gateway& gw) {
  std::smatch m;
  const std::string json = status_json(gw);
  return std::regex_search(json, m, std::regex(R"re("rebalance":\{"state":"([a-z]+)")re")) ? m[1].str() : "?";
}

long sessions_on(const Gateway& gw, const EchoBackend& b) {
  return gw.status().find("127.0.0.1:" + std::to_string(b.port()))->sessions;
}

std::string name_of(const EchoBackend& b) { return "chat/127.0.0.1:" + std::to_string(b.port()); }

// The rate of events over their middle 80%, so a burst at the start or a
// straggler at the end does not decide it.
double middle_rate(std::vector<Clock::time_point> t) {
  std::sort(t.begin(), t.end());
  const size_t lo = t.size() / 10, hi = t.size() - 1 - t.size() / 10;
  const double secs = std::chrono::duration<double>(t[hi] - t[lo]).count();
  return secs > 0 ? static_cast<double>(hi - lo) / secs : 0;
}

// Every close frame any of `clients` receives: when, and with which code.
// Each is answered; `on_close(i)` may then replace the client (reconnect).
struct CloseLog {
  std::vector<Clock::time_point> at;
  std::vector<uint16_t> codes;
};

template <class OnClose, class Done>
CloseLog watch_closes(std::vector<WsClient>& clients, milliseconds timeout, OnClose on_close, Done done) {
  CloseLog log;
  const auto deadline = Clock::now() + timeout;
  std::vector<bool> closed(clients.size(), false);
  while (Clock::now() < deadline && !done(log)) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (!closed[i]) {
        fds.push_back({clients[i].fd(), POLLIN, 0});
        which.push_back(i);
      }
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) {
      continue;
    }
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      const size_t i = which[k];
      std::optional<Frame> f = clients[i].try_recv_frame(0ms);
      if (!f || f->opcode != kClose) {
        continue;
      }
      log.at.push_back(Clock::now());
      log.codes.push_back(f->payload.size() >= 2 ? static_cast<uint16_t>(static_cast<uint8_t>(f->payload[0]) << 8 |
                                                                         static_cast<uint8_t>(f->payload[1]))
                                                 : 1005);
      clients[i].close(1000);
      closed[i] = true;
      if (on_close(i)) {
        closed.resize(clients.size(), false);
      }
    }
  }
  return log;
}

TEST(Drain, SessionsLeaveAtTheAskedRateWith1012AndNoneArrive) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}) + kRoute, 2);
  std::vector<WsClient> on_a, on_b;
  for (int i = 0; i < 120; ++i) {
    WsClient c = gw.open("/chat");
    ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
    (whoami(c) == "a" ? on_a : on_b).push_back(std::move(c));
  }
  ASSERT_GE(on_a.size(), 50u);
  const double rate = 20;
  CommandResult r = run_wsgate({"drain", "-c", gw.config_path(), name_of(a), "--rate", "20/s"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("draining " + name_of(a)), std::string::npos) << r.out;
  for (int i = 0; i < 5; ++i) {
    WsClient c = gw.open("/chat");
    ASSERT_TRUE(c.handshake_ok());
    EXPECT_EQ(whoami(c), "b") << "a new session landed on the draining backend";
    on_b.push_back(std::move(c));
  }
  const size_t k = on_a.size();
  CloseLog log = watch_closes(
      on_a, 20000ms, [](size_t) { return false; }, [&](const CloseLog& l) { return l.at.size() == k; });
  ASSERT_EQ(log.at.size(), k) << "not every session of the drained backend was closed";
  for (uint16_t code : log.codes) {
    EXPECT_EQ(code, 1012);
  }
  const double measured = middle_rate(log.at);
  std::printf("drain: %zu sessions, asked %.0f/s, measured %.1f/s\n", k, rate, measured);
  EXPECT_GT(measured, rate * 0.8);
  EXPECT_LT(measured, rate * 1.2);
  gw.wait_status([&](const Status& s) { return s.find("127.0.0.1:" + std::to_string(a.port()))->sessions == 0; });
  EXPECT_EQ(sessions_on(gw, a), 0);
  const std::string json = status_json(gw);
  EXPECT_NE(json.find("\"state\":\"draining\""), std::string::npos);
  EXPECT_NE(json.find("\"drain\":{\"rate\":20,\"moved\":" + std::to_string(k)), std::string::npos) << json;
  const std::string text = run_wsgate({"status", "-c", gw.config_path()}).out;
  EXPECT_NE(text.find("draining: 0 sessions left"), std::string::npos) << text;
  for (auto& c : on_b) {
    EXPECT_EQ(whoami(c), "b") << "a session of the other backend was touched";
  }
  // Undrain: a takes new sessions again (least loaded, so all of them).
  r = run_wsgate({"undrain", "-c", gw.config_path(), name_of(a)});
  ASSERT_EQ(r.code, 0) << r.err;
  WsClient back = gw.open("/chat");
  EXPECT_EQ(whoami(back), "a");
}

TEST(Drain, ReconnectPoolsMoveSessionsWithoutClosingThem) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}, "    on_backend_loss: reconnect\n") + kRoute, 2);
  std::vector<WsClient> clients;
  int first_on_a = 0;
  for (int i = 0; i < 80; ++i) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok());
    first_on_a += whoami(clients.back()) == "a" ? 1 : 0;
  }
  const auto start = Clock::now();
  CommandResult r = run_wsgate({"drain", "-c", gw.config_path(), name_of(a), "--rate", "20/s"});
  ASSERT_EQ(r.code, 0) << r.err;
  Status st = gw.wait_status(
      [&](const Status& s) { return s.find("127.0.0.1:" + std::to_string(a.port()))->sessions == 0; }, 15000ms);
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(st.find("127.0.0.1:" + std::to_string(a.port()))->sessions, 0);
  std::printf("drain (reconnect): %d sessions moved in %.2f s at 20/s\n", first_on_a, secs);
  EXPECT_GT(secs, first_on_a / 20.0 * 0.8);
  EXPECT_LT(secs, first_on_a / 20.0 * 1.2 + 1.0);  // + the status poll's own delay
  for (auto& c : clients) {
    EXPECT_EQ(whoami(c), "b") << "the client should not have noticed the move";
  }
  EXPECT_EQ(gw.status().total_sessions(), 80);
}

TEST(Rebalance, AfterScaleOutEndsWithinTenPercentOfTheFairShareAtThePace) {
  EchoBackend a{"a"}, b{"b"};
  Gateway gw(pool_yaml("chat", {a.port(), b.port()}) + kRoute, 2);
  // b starts out of rotation: every session lands on a, as before a scale-out.
  ASSERT_EQ(run_wsgate({"drain", "-c", gw.config_path(), name_of(b)}).code, 0);
  std::vector<WsClient> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok());
  }
  ASSERT_EQ(sessions_on(gw, a), 100);
  ASSERT_EQ(run_wsgate({"undrain", "-c", gw.config_path(), name_of(b)}).code, 0);
  const double rate = 25;
  CommandResult r = run_wsgate({"rebalance", "-c", gw.config_path(), "--rate", "25/s"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("up to 50 sessions"), std::string::npos) << r.out;
  // Clients do what real ones do with 1012: reconnect, landing on the least loaded.
  auto last_check = Clock::now();
  bool done = false;
  std::optional<Clock::time_point> done_at;
  CloseLog log = watch_closes(
      clients, 20000ms,
      [&](size_t) {
        clients.push_back(gw.open("/chat"));
        return true;
      },
      [&](const CloseLog&) {
        if (!done && Clock::now() - last_check > 200ms) {
          last_check = Clock::now();
          done = rebalance_state(gw) == "done";
          if (done) {
            done_at = Clock::now();
          }
        }
        // Moves already chosen still land (up to one 100 ms tick later):
        // keep answering and reconnecting a while after the end.
        return done && Clock::now() - *done_at > 1000ms;
      });
  ASSERT_TRUE(done) << "the rebalance did not stop by itself: " << status_json(gw);
  for (uint16_t code : log.codes) {
    EXPECT_EQ(code, 1012);
  }
  Status st = gw.wait_status([](const Status& s) { return s.total_sessions() == 100; });
  const long on_a = sessions_on(gw, a), on_b = sessions_on(gw, b);
  const double measured = middle_rate(log.at);
  std::printf("rebalance: %zu moved, end state a=%ld b=%ld (fair 50 each), asked %.0f/s, measured %.1f/s\n",
              log.at.size(), on_a, on_b, rate, measured);
  EXPECT_EQ(st.total_sessions(), 100);
  EXPECT_GE(on_a, 45);
  EXPECT_LE(on_a, 55);
  EXPECT_GE(on_b, 45);
  EXPECT_LE(on_b, 55);
  EXPECT_GT(measured, rate * 0.8);
  EXPECT_LT(measured, rate * 1.2);
  EXPECT_NE(status_json(gw).find("\"rebalance\":{\"state\":\"done\",\"rate\":25,\"moved\":"), std::string::npos);
  // Nothing left to do: a second rebalance says so.
  r = run_wsgate({"rebalance", "-c", gw.config_path()});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("nothing to rebalance"), std::string::npos) << r.out;
}

TEST(Control, ErrorsNameTheProblem) {
  EchoBackend a{"a"};
  Gateway gw(pool_yaml("chat", {a.port()}) + kRoute, 1);
  CommandResult r = run_wsgate({"drain", "-c", gw.config_path(), "chat/127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no backend chat/127.0.0.1:1"), std::string::npos) << r.err;
  r = run_wsgate({"drain", "-c", gw.config_path()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("needs a backend"), std::string::npos) << r.err;
  r = run_wsgate({"rebalance", "-c", gw.config_path(), "--rate", "fast"});
  EXPECT_EQ(r.code, 2);
  r = run_wsgate({"rebalance", "-c", gw.config_path(), "--cancel"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no rebalance is running"), std::string::npos) << r.err;
  r = run_wsgate({"drain", "-c", gw.config_path(), name_of(a)});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("warning: no other backend"), std::string::npos) << r.out;
}

// The admin endpoint's POST paths (worker/admin/admin_control.h).
HttpResponse admin_request(std::uint16_t port, const std::string& method, const std::string& target) {
  WsClient c = WsClient::connect(port);
  // The Host and the header control needs (worker/admin/admin_guard.h).
  c.send_raw(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
             "\r\nX-Wsgate-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  return c.read_http_response();
}

TEST(Control, TheAdminEndpointDrainsUndrainsAndRebalances) {
  EchoBackend a{"a"}, b{"b"};
  const std::uint16_t admin = free_port();
  Gateway gw("admin: 127.0.0.1:" + std::to_string(admin) + "\n" + pool_yaml("chat", {a.port(), b.port()}) + kRoute, 2);
  gw.process().wait_for_output("admin endpoint for slot");
  std::vector<WsClient> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(gw.open("/chat"));
    ASSERT_TRUE(clients.back().handshake_ok()) << clients.back().handshake_error();
  }
  ASSERT_EQ(sessions_on(gw, b), 5);

  HttpResponse r = admin_request(admin, "POST", "/drain?backend=" + name_of(b) + "&rate=100");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"state\":\"draining\""), std::string::npos) << r.body;
  const Status st = gw.wait_status([&](const Status& s) {
    const BackendStatus* x = s.find("127.0.0.1:" + std::to_string(b.port()));
    return x != nullptr && x->state == "draining" && x->sessions == 0;
  });
  EXPECT_EQ(st.find("127.0.0.1:" + std::to_string(b.port()))->sessions, 0);
  for (int i = 0; i < 4; ++i) {
    WsClient c = gw.open("/chat");
    ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
    EXPECT_EQ(whoami(c), "a") << "a new session landed on the draining backend";
  }

  r = admin_request(admin, "POST", "/undrain?backend=" + name_of(b));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(
      gw.wait_status([&](const Status& s) { return s.find("127.0.0.1:" + std::to_string(b.port()))->state == "up"; })
          .find("127.0.0.1:" + std::to_string(b.port()))
          ->state,
      "up");
  r = admin_request(admin, "POST", "/rebalance?rate=50");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"rebalance\":"), std::string::npos) << r.body;

  // What is refused, and why.
  EXPECT_EQ(admin_request(admin, "POST", "/drain?backend=chat/127.0.0.1:1").status, 404);
  EXPECT_EQ(admin_request(admin, "POST", "/drain?backend=" + name_of(b) + "&rate=fast").status, 400);
  EXPECT_EQ(admin_request(admin, "POST", "/drain").status, 400);
  const HttpResponse get = admin_request(admin, "GET", "/drain?backend=" + name_of(b));
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("Allow").value_or(""), "POST");
  EXPECT_EQ(admin_request(admin, "POST", "/rebalance/cancel").status, 200);
}

}  // namespace
}  // namespace wsgate::test
