// What the admin endpoint demands before it serves (issue 15, finding 11):
// a Host naming it, and for control no Origin and the X-Wsgate-Admin header.
#include "worker/admin/admin_guard.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "shm/backend_table.h"
#include "worker/admin/admin_control.h"
#include "worker/admin/admin_http.h"

namespace wsgate::worker {
namespace {

conf::Endpoint v4(const std::string& host, uint16_t port) { return conf::Endpoint{host, port, false}; }

AdminRequest parsed(const std::string& head) {
  AdminRequestReader r(16 * 1024);
  EXPECT_EQ(r.parse(head), AdminRequestReader::Status::done) << head;
  return r.request();
}

int status_of(const std::string& head, const conf::Endpoint& admin = v4("127.0.0.1", 9100)) {
  const auto refusal = guard_admin(parsed(head), admin);
  return refusal ? refusal->status : 0;
}

TEST(AdminGuard, TheHostMustNameTheAdminAddress) {
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: LocalHost:9100\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nHost: 127.0.0.1:9100\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: rebound.example:9100\r\n\r\n"), 421);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9101\r\n\r\n"), 421);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 421);  // port 80
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", v4("127.0.0.1", 80)), 0);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 10.0.0.5:9100\r\n\r\n"), 421);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: [::1]:9100\r\n\r\n", conf::Endpoint{"::1", 9100, true}), 0);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n\r\n", v4("10.0.0.5", 9100)), 421);
  // Listening everywhere: any address literal, never a name.
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: 10.0.0.5:9100\r\n\r\n", v4("0.0.0.0", 9100)), 0);
  EXPECT_EQ(status_of("GET /metrics HTTP/1.1\r\nHost: rebound.example:9100\r\n\r\n", v4("0.0.0.0", 9100)), 421);
}

TEST(AdminGuard, ControlNeedsTheHeaderAndNoOrigin) {
  const std::string host = "Host: 127.0.0.1:9100\r\n";
  EXPECT_EQ(status_of("POST /drain?backend=a HTTP/1.1\r\n" + host + "X-Wsgate-Admin: 1\r\n\r\n"), 0);
  // What a cross-origin form or fetch() can send without a preflight.
  EXPECT_EQ(status_of("POST /drain?backend=a HTTP/1.1\r\n" + host +
                      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n"),
            403);
  EXPECT_EQ(status_of("POST /rebalance HTTP/1.1\r\n" + host + "X-Wsgate-Admin: 1\r\nOrigin: null\r\n\r\n"), 403);
  EXPECT_EQ(status_of("POST /undrain HTTP/1.1\r\n" + host + "X-Wsgate-Admin: yes\r\n\r\n"), 403);
  EXPECT_EQ(status_of("POST /rebalance/cancel HTTP/1.1\r\n" + host + "\r\n"), 403);
  // Reading needs no header; GET on a control path changes nothing (405 later).
  EXPECT_EQ(status_of("GET /status HTTP/1.1\r\n" + host + "Origin: http://a.example\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET /drain HTTP/1.1\r\n" + host + "\r\n"), 0);
}

TEST(AdminRequestReader, ABodyOverTheLimitIs413) {
  AdminRequestReader r(16 * 1024, 1024);
  EXPECT_EQ(r.parse("POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"),
            AdminRequestReader::Status::error);
  EXPECT_EQ(r.error_status(), 413);
  AdminRequestReader small(16 * 1024, 1024);
  EXPECT_EQ(small.parse("POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
            AdminRequestReader::Status::done);
}

TEST(AdminControl, ARepeatedParameterIs400AndNothingIsDone) {
  auto storage = std::make_unique<shm::Table>();
  shm::BackendTable(*storage).set_slot_count(1);
  for (const char* target : {"/drain?backend=chat/127.0.0.1:1&backend=chat/127.0.0.1:2",
                             "/drain?backend=chat/127.0.0.1:1&rate=5&rate=500", "/rebalance?rate=1&rate=2"}) {
    const auto r = control_admin(parsed(std::string("POST ") + target + " HTTP/1.1\r\nHost: x\r\n\r\n"), *storage);
    ASSERT_TRUE(r.has_value()) << target;
    EXPECT_EQ(r->status, 400) << target;
    EXPECT_NE(r->body.find("given more than once"), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace wsgate::worker
