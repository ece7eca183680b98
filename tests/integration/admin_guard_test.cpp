// The admin endpoint against a browser on the same host and a local user
// (issue 15, finding 11): a cross-origin or rebound POST /drain changes
// nothing, malformed control is refused, and idle keep-alive connections
// cannot lock out the scraper.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;

struct Admin {
  EchoBackend a{"a"}, b{"b"};
  std::uint16_t port = free_port();
  Gateway gw;
  Admin()
      : gw("admin: 127.0.0.1:" + std::to_string(port) + "\n" + pool_yaml("chat", {a.port(), b.port()}) +
               "routes:\n  - { path: /chat, pool: chat }\n",
           1) {
    gw.process().wait_for_output("admin endpoint for slot", 10000ms);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
  std::string backend_b() const { return "chat/127.0.0.1:" + std::to_string(b.port()); }
  // One request on its own connection, as written.
  HttpResponse send(const std::string& request) const {
    WsClient c = WsClient::connect(port);
    c.send_raw(request);
    return c.read_http_response();
  }
  std::string state_of_b() const {
    const Status s = gw.status();
    const BackendStatus* x = s.find("127.0.0.1:" + std::to_string(b.port()));
    return x != nullptr ? x->state : "?";
  }
};

TEST(AdminGuard, ACrossOriginOrReboundDrainChangesNothing) {
  Admin a;
  const std::string drain = "POST /drain?backend=" + a.backend_b() + " HTTP/1.1\r\n";
  // A "simple" cross-origin request: what an HTML form on any page sends.
  HttpResponse form = a.send(drain + "Host: " + a.host() +
                             "\r\nOrigin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(form.status, 403) << form.body;
  // The same without Origin (fetch with mode no-cors, or a referrer policy): still no header.
  HttpResponse simple =
      a.send(drain + "Host: " + a.host() + "\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(simple.status, 403) << simple.body;
  EXPECT_NE(simple.body.find("X-Wsgate-Admin: 1"), std::string::npos) << simple.body;
  // DNS rebinding: the page's own name in Host, even with the header.
  HttpResponse rebound = a.send(drain + "Host: evil.example:" + std::to_string(a.port) +
                                "\r\nX-Wsgate-Admin: 1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(rebound.status, 421) << rebound.body;
  EXPECT_EQ(a.send("GET /metrics HTTP/1.1\r\nHost: evil.example:" + std::to_string(a.port) + "\r\n\r\n").status, 421);
  EXPECT_EQ(a.send("GET /metrics HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(a.state_of_b(), "up");

  // Malformed control: a body over the bound, a parameter given twice.
  EXPECT_EQ(a.send(drain + "Host: " + a.host() + "\r\nX-Wsgate-Admin: 1\r\nContent-Length: 100000\r\n\r\n").status,
            413);
  HttpResponse twice = a.send("POST /drain?backend=chat/127.0.0.1:1&backend=" + a.backend_b() +
                              " HTTP/1.1\r\nHost: " + a.host() + "\r\nX-Wsgate-Admin: 1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(twice.status, 400) << twice.body;
  EXPECT_EQ(a.state_of_b(), "up");

  // What wsgate's tools send works.
  HttpResponse ok = a.send(drain + "Host: " + a.host() + "\r\nX-Wsgate-Admin: 1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
  const std::string b = "127.0.0.1:" + std::to_string(a.b.port());
  const Status st = a.gw.wait_status([&](const Status& s) { return s.find(b) && s.find(b)->state == "draining"; });
  ASSERT_NE(st.find(b), nullptr);
  EXPECT_EQ(st.find(b)->state, "draining");
}

TEST(AdminGuard, SeventyIdleKeepAliveConnectionsDoNotLockOutTheScraper) {
  Admin a;
  std::vector<WsClient> idle;
  for (int i = 0; i < 70; ++i) {
    idle.push_back(WsClient::connect(a.port));
    if (i % 2 == 0) {
      // Half of them had one answer and wait with keep-alive; half never said a word.
      try {
        idle.back().send_raw("GET /status HTTP/1.1\r\nHost: " + a.host() + "\r\n\r\n");
        idle.back().read_http_response();
      } catch (const TestIoError&) {
        // Turned away: what the scraper must not be; judged below.
      }
    }
  }
  for (int scrape = 0; scrape < 3; ++scrape) {
    HttpResponse r;
    ASSERT_NO_THROW(r = http_get(a.port, "/metrics", 3000ms)) << "scrape " << scrape << " did not get through";
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("wsgate_handshakes_total"), std::string::npos);
  }
}

}  // namespace
}  // namespace wsgate::test
