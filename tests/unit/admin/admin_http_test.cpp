#include "worker/admin/admin_http.h"

#include <gtest/gtest.h>

#include <memory>

#include "shm/backend_table.h"
#include "worker/admin/admin_routes.h"

namespace wsgate::worker {
namespace {

TEST(AdminRequestReader, ReadsPipelinedRequestsOneAtATime) {
  AdminRequestReader r(16 * 1024);
  std::string buf = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /status?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(r.parse(buf), AdminRequestReader::Status::done);
  EXPECT_EQ(r.request().method, "GET");
  EXPECT_EQ(r.request().path, "/metrics");
  EXPECT_TRUE(r.request().keep_alive);
  buf.erase(0, r.consumed());
  r.reset();
  ASSERT_EQ(r.parse(buf), AdminRequestReader::Status::done);
  EXPECT_EQ(r.request().target, "/status?x=1");
  EXPECT_EQ(r.request().path, "/status");
  EXPECT_FALSE(r.request().keep_alive);
  EXPECT_EQ(r.consumed(), buf.size());
}

TEST(AdminRequestReader, WaitsForTheWholeHeader) {
  AdminRequestReader r(16 * 1024);
  EXPECT_EQ(r.parse("GET /metrics HTTP/1.1\r\nHo"), AdminRequestReader::Status::need_more);
  EXPECT_EQ(r.parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), AdminRequestReader::Status::done);
}

TEST(AdminRequestReader, RefusesOversizeAndMalformedRequests) {
  AdminRequestReader big(1024);
  EXPECT_EQ(big.parse("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n"),
            AdminRequestReader::Status::error);
  EXPECT_EQ(big.error_status(), 431);
  AdminRequestReader endless(1024);
  EXPECT_EQ(endless.parse("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a')), AdminRequestReader::Status::error);
  EXPECT_EQ(endless.error_status(), 431);
  AdminRequestReader bad(1024);
  EXPECT_EQ(bad.parse("NOT HTTP AT ALL\r\n\r\n"), AdminRequestReader::Status::error);
  EXPECT_EQ(bad.error_status(), 400);
}

TEST(AdminResponse, HasLengthConnectionAndNoBodyForHead) {
  AdminResponse r;
  r.body = "hello\n";
  EXPECT_EQ(format_admin_response(r, true, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n"
            "Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\nhello\n");
  const std::string head = format_admin_response(r, false, true);
  EXPECT_NE(head.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST(AdminRoutes, PathsAndMethods) {
  auto storage = std::make_unique<shm::Table>();
  shm::BackendTable(*storage).set_slot_count(1);
  auto answer = [&](const char* method, const char* path) {
    AdminRequest req;
    req.method = method;
    req.target = req.path = path;
    return route_admin(req, *storage, nullptr, 0);
  };
  AdminResponse m = answer("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body.find("# TYPE wsgate_handshakes_total counter"), std::string::npos);
  AdminResponse s = answer("GET", "/status");
  EXPECT_EQ(s.content_type, "application/json");
  EXPECT_EQ(s.body.rfind("{\"workers\":[", 0), 0u);
  EXPECT_EQ(answer("GET", "/nope").status, 404);
  AdminResponse post = answer("POST", "/metrics");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.allow, "GET, HEAD");
  EXPECT_EQ(answer("HEAD", "/status").status, 200);
}

}  // namespace
}  // namespace wsgate::worker
