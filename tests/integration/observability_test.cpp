// Observability end to end with the real binary: the admin endpoint's
// /metrics (every line parsed as Prometheus text 0.0.4, counters matching
// what the test did) and /status, its HTTP behaviour, and the access log
// (text and JSON lines parsed; SIGUSR1 after a rename starts a new file).
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::regex kSample(
    R"re(^(wsgate_[a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9]+(\.[0-9]+)?)$)re");
const std::regex kComment(R"(^# (HELP|TYPE) wsgate_[a-zA-Z0-9_:]* .+$)");

// "name{labels}" -> value; every line must be a valid comment or sample.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (std::regex_match(line, kComment)) continue;
    if (!std::regex_match(line, kSample)) {
      ADD_FAILURE() << "invalid exposition line: " << line;
      continue;
    }
    const size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

double value(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) {
    ADD_FAILURE() << "no series " << key;
    return -1;
  }
  return it->second;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Polls `path` until it holds at least `n` lines (the access log is flushed
// at least every second).
std::vector<std::string> wait_lines(const std::string& path, size_t n, milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::string> lines = lines_of(slurp(path));
  while (lines.size() < n && Clock::now() < deadline) {
    usleep(50 * 1000);
    lines = lines_of(slurp(path));
  }
  return lines;
}

// One echo session: `messages` text messages of `size` bytes each way, then
// the client closes with 1000 and waits for the answer.
void echo_session(const Gateway& gw, int messages, size_t size) {
  WsClient c = gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
  for (int i = 0; i < messages; ++i) {
    c.send_text(std::string(size, 'a' + static_cast<char>(i % 26)));
    EXPECT_EQ(c.recv_message().payload.size(), size);
  }
  c.close(1000);
  EXPECT_EQ(c.expect_close().code, 1000);
}

struct AdminGateway {
  EchoBackend backend{"b1"};
  uint16_t admin_port = free_port();
  Gateway gw;
  explicit AdminGateway(const std::string& extra = "")
      : gw("admin: 127.0.0.1:" + std::to_string(admin_port) + "\n" + extra + pool_yaml("chat", {backend.port()}) +
               "routes:\n  - { path: /chat, pool: chat }\n",
           2) {
    gw.process().wait_for_output("admin endpoint for slot", 10000ms);
  }
  // The Host every request must name (worker/admin/admin_guard.h).
  std::string host() const { return "127.0.0.1:" + std::to_string(admin_port); }
  std::map<std::string, double> scrape() {
    HttpResponse r = http_get(admin_port, "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
    return parse_metrics(r.body);
  }
};

TEST(AdminMetrics, CountersMatchWhatClientsDid) {
  AdminGateway a;
  const auto before = a.scrape();
  constexpr int kSessions = 5, kMessages = 3;
  constexpr size_t kSize = 100;
  for (int i = 0; i < kSessions; ++i) echo_session(a.gw, kMessages, kSize);
  EXPECT_EQ(a.gw.open("/nowhere").status(), 404);
  // Sessions end (and count) once both close handshakes are done.
  auto after = a.scrape();
  for (auto deadline = Clock::now() + 5s;
       value(after, "wsgate_sessions_closed_total") < kSessions && Clock::now() < deadline;) {
    usleep(50 * 1000);
    after = a.scrape();
  }
  auto delta = [&](const std::string& key) { return value(after, key) - value(before, key); };
  EXPECT_GE(delta("wsgate_handshakes_total{code=\"101\"}"), kSessions);
  EXPECT_GE(delta("wsgate_handshakes_total{code=\"404\"}"), 1);
  EXPECT_GE(delta("wsgate_messages_total{direction=\"client_to_backend\"}"), kSessions * kMessages);
  EXPECT_GE(delta("wsgate_messages_total{direction=\"backend_to_client\"}"), kSessions * kMessages);
  EXPECT_GE(delta("wsgate_bytes_total{direction=\"client_to_backend\"}"), kSessions * kMessages * kSize);
  EXPECT_GE(delta("wsgate_bytes_total{direction=\"backend_to_client\"}"), kSessions * kMessages * kSize);
  EXPECT_GE(delta("wsgate_close_frames_total{direction=\"received\",peer=\"client\",code=\"1000\"}"), kSessions);
  EXPECT_GE(delta("wsgate_close_frames_total{direction=\"sent\",peer=\"backend\",code=\"1000\"}"), kSessions);
  EXPECT_GE(delta("wsgate_close_frames_total{direction=\"received\",peer=\"backend\",code=\"1000\"}"), kSessions);
  EXPECT_GE(delta("wsgate_close_frames_total{direction=\"sent\",peer=\"client\",code=\"1000\"}"), kSessions);
  EXPECT_GE(delta("wsgate_sessions_closed_total"), kSessions);
  const std::string backend = "{pool=\"chat\",backend=\"127.0.0.1:" + std::to_string(a.backend.port()) + "\"}";
  EXPECT_GE(delta("wsgate_backend_upgrades_total" + backend), kSessions);
  EXPECT_EQ(value(after, "wsgate_backend_sessions" + backend), 0);
  EXPECT_EQ(value(after, "wsgate_worker_up{worker=\"0\",role=\"proxy\",generation=\"1\"}"), 1);
  EXPECT_EQ(value(after, "wsgate_worker_up{worker=\"1\",role=\"proxy\",generation=\"1\"}"), 1);
}

// Counters live in shm: a worker's death and respawn does not reset them.
TEST(AdminMetrics, CountersSurviveAWorkersRestart) {
  AdminGateway a;
  for (int i = 0; i < 4; ++i) echo_session(a.gw, 1, 10);
  const double handshakes = value(a.scrape(), "wsgate_handshakes_total{code=\"101\"}");
  EXPECT_GE(handshakes, 4);
  const Status s = a.gw.status();
  ASSERT_GE(s.worker_pids.size(), 2u);
  ASSERT_EQ(::kill(s.worker_pids[0], SIGKILL), 0);
  a.gw.wait_status([&](const Status& st) { return st.worker_pids[0] != 0 && st.worker_pids[0] != s.worker_pids[0]; });
  EXPECT_GE(value(a.scrape(), "wsgate_handshakes_total{code=\"101\"}"), handshakes);
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 && c >= 0xC2 ? 2 : (c >> 4) == 14 ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// A client's channel path of any bytes: the scrape stays valid UTF-8 and
// valid exposition (issue 15, finding 7). Raw bytes outside RFC 3986's path
// characters never become a channel (400, worker/ws/request_path.h); the
// percent-encoded spelling is the channel's name, as the client wrote it.
TEST(AdminMetrics, AChannelPathOfAnyBytesLeavesTheScrapeValid) {
  const uint16_t admin = free_port();
  Gateway gw("admin: 127.0.0.1:" + std::to_string(admin) +
                 "\nstreams:\n  fx:\n    source: ws://127.0.0.1:1/\n    channels: per_path\n    max_channels: 4\n"
                 "routes:\n  - { path: /fx, stream: fx }\n",
             1);
  gw.process().wait_for_output("admin endpoint for slot", 10000ms);
  WsClient good = gw.open("/fx/caf%c3%a9"), bad = gw.open("/fx/\xFF\xC3(\"x\\");
  ASSERT_TRUE(good.handshake_ok()) << good.handshake_error();
  EXPECT_EQ(bad.status(), 400);
  const std::string cafe = "channel=\"/fx/caf%C3%A9\"";
  HttpResponse r;
  const auto deadline = Clock::now() + 5s;
  do {
    r = http_get(admin, "/metrics");
  } while (r.body.find(cafe) == std::string::npos && Clock::now() < deadline && usleep(100 * 1000) == 0);
  EXPECT_TRUE(valid_utf8(r.body));
  EXPECT_NE(r.body.find(cafe), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("\xFF"), std::string::npos);
  parse_metrics(r.body);  // every line a valid sample or comment
  HttpResponse status = http_get(admin, "/status");
  EXPECT_TRUE(valid_utf8(status.body));
  EXPECT_NE(status.body.find("\"/fx/caf%C3%A9\""), std::string::npos) << status.body;
  CommandResult text = run_wsgate({"status", "-c", gw.config_path()});
  EXPECT_TRUE(valid_utf8(text.out));
  EXPECT_NE(text.out.find("/fx/caf%C3%A9"), std::string::npos) << text.out;
}

TEST(AdminStatus, ServesTheStatusJson) {
  AdminGateway a;
  HttpResponse r = http_get(a.admin_port, "/status");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  const Status over_http = parse_status_json(r.body);
  const Status cli = a.gw.status();
  EXPECT_EQ(over_http.worker_pids, cli.worker_pids);
  EXPECT_EQ(over_http.roles, cli.roles);
  EXPECT_EQ(over_http.pid_of("admin"), cli.pid_of("admin"));
  EXPECT_NE(over_http.pid_of("admin"), 0);
  ASSERT_EQ(over_http.backends.size(), 1u);
  EXPECT_EQ(over_http.backends[0].pool, "chat");
}

TEST(AdminHttp, UnknownPathsMethodsKeepAliveAndLimits) {
  AdminGateway a;
  EXPECT_EQ(http_get(a.admin_port, "/nope").status, 404);
  {
    WsClient c = WsClient::connect(a.admin_port);
    c.send_raw("POST /metrics HTTP/1.1\r\nHost: " + a.host() + "\r\nContent-Length: 0\r\n\r\n");
    HttpResponse r = c.read_http_response();
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("Allow").value_or(""), "GET, HEAD");
  }
  {
    // Keep-alive: two requests, two answers, one connection.
    WsClient c = WsClient::connect(a.admin_port);
    c.send_raw("GET /status HTTP/1.1\r\nHost: " + a.host() + "\r\n\r\n");
    HttpResponse first = c.read_http_response();
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.header("Connection").value_or(""), "keep-alive");
    c.send_raw("GET /metrics HTTP/1.1\r\nHost: " + a.host() + "\r\nConnection: close\r\n\r\n");
    HttpResponse second = c.read_http_response();
    EXPECT_EQ(second.status, 200);
    EXPECT_NE(second.body.find("wsgate_handshakes_total"), std::string::npos);
    EXPECT_TRUE(c.try_wait_eof(2000ms));
  }
  {
    WsClient c = WsClient::connect(a.admin_port);
    c.send_raw("GET /metrics HTTP/1.1\r\nHost: " + a.host() + "\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n");
    EXPECT_EQ(c.read_http_response().status, 431);
  }
}

// One text line per session, with what the session did.
TEST(AccessLog, TextLinesCarryEachSessionsFacts) {
  TempDir dir("wsgate-obs");
  const std::string path = (dir / "access.log").string();
  EchoBackend backend("b1");
  Gateway gw("log: { access: " + path + " }\n" + pool_yaml("chat", {backend.port()}) +
                 "routes:\n  - { path: /chat, pool: chat }\n",
             1);
  echo_session(gw, 3, 100);
  EXPECT_EQ(gw.open("/nowhere").status(), 404);
  const std::vector<std::string> lines = wait_lines(path, 2);
  ASSERT_EQ(lines.size(), 2u) << slurp(path);
  const std::regex session(
      R"re(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (127\.0\.0\.1:\d+) "/chat" 101 pool=chat backend=127\.0\.0\.1:(\d+) stream=- duration_ms=(\d+) up_msgs=(\d+) up_bytes=(\d+) down_msgs=(\d+) down_bytes=(\d+) close_from_client=1000 close_to_client=1000 close_from_backend=1000 close_to_backend=1000 closed_by=client tls=- cipher=- resumed=-$)re");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, session)) << lines[0];
  EXPECT_EQ(std::stoi(m[3]), backend.port());
  EXPECT_EQ(m[5], "3");
  EXPECT_EQ(m[6], "300");
  EXPECT_EQ(m[7], "3");
  EXPECT_EQ(m[8], "300");
  const std::regex refused(
      R"re(^\S+Z 127\.0\.0\.1:\d+ "/nowhere" 404 pool=- backend=- stream=- duration_ms=\d+ up_msgs=0 up_bytes=0 down_msgs=0 down_bytes=0 close_from_client=- close_to_client=- close_from_backend=- close_to_backend=- closed_by=wsgate tls=- cipher=- resumed=-$)re");
  EXPECT_TRUE(std::regex_match(lines[1], refused)) << lines[1];
}

// JSON lines; logrotate's way: rename, then SIGUSR1 to the master, which
// reopens its own files and forwards the signal to every child.
TEST(AccessLog, JsonLinesAndReopenOnSigusr1) {
  TempDir dir("wsgate-obs");
  const std::string path = (dir / "access.log").string();
  EchoBackend backend("b1");
  Gateway gw("log: { access: " + path + ", format: json }\n" + pool_yaml("chat", {backend.port()}) +
                 "routes:\n  - { path: /chat, pool: chat }\n",
             2);
  echo_session(gw, 2, 10);
  std::vector<std::string> lines = wait_lines(path, 1);
  ASSERT_EQ(lines.size(), 1u);
  const std::regex json(
      R"re(^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","client":"127\.0\.0\.1:\d+","path":"/chat","status":101,"pool":"chat","backend":"127\.0\.0\.1:\d+","stream":null,"duration_ms":\d+,"up_msgs":2,"up_bytes":20,"down_msgs":2,"down_bytes":20,"close_from_client":1000,"close_to_client":1000,"close_from_backend":1000,"close_to_backend":1000,"closed_by":"client"\}$)re");
  EXPECT_TRUE(std::regex_match(lines[0], json)) << lines[0];

  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  gw.process().send_signal(SIGUSR1);
  // The reopen is asynchronous: sessions keep going until one lands in the new file.
  std::vector<std::string> fresh;
  for (auto deadline = Clock::now() + 10s; fresh.empty() && Clock::now() < deadline;) {
    echo_session(gw, 1, 10);
    fresh = wait_lines(path, 1, 1500ms);
  }
  ASSERT_FALSE(fresh.empty()) << "no line reached the new file after SIGUSR1";
  EXPECT_NE(fresh[0].find("\"path\":\"/chat\""), std::string::npos) << fresh[0];
  const std::vector<std::string> old = lines_of(slurp(path + ".1"));
  ASSERT_GE(old.size(), 1u);
  EXPECT_EQ(old[0], lines[0]);
  EXPECT_TRUE(gw.process().running());
}

// `log.error`: what goes to stderr otherwise goes to the file, whole lines
// from the master and every child.
TEST(ErrorLog, GoesToItsFile) {
  TempDir dir("wsgate-obs");
  const std::string path = (dir / "error.log").string();
  EchoBackend backend("b1");
  const std::string config = (dir / "wsgate.yaml").string();
  write_file(config, "listen: 127.0.0.1:" + std::to_string(free_port()) + "\nworkers: 2\nlog: { error: error.log }\n" +
                         pool_yaml("chat", {backend.port()}) + "routes:\n  - { path: /chat, pool: chat }\n");
  ChildProcess gw({wsgate_path(), "-c", config});
  std::vector<std::string> lines;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline; usleep(50 * 1000)) {
    const std::string text = slurp(path);
    if (text.find("worker for slot 0 ready") != std::string::npos &&
        text.find("worker for slot 1 ready") != std::string::npos) {
      lines = lines_of(text);
      break;
    }
  }
  ASSERT_FALSE(lines.empty()) << slurp(path);
  const std::regex line(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(debug|info|warn|error)\] .+\[\d+\]: .+$)");
  for (const std::string& l : lines) {
    EXPECT_TRUE(std::regex_match(l, line)) << l;
  }
  gw.send_signal(SIGTERM);
  EXPECT_EQ(gw.wait_exit(10000ms).code, 0);
  EXPECT_EQ(gw.stderr_text().find("ready"), std::string::npos) << "error lines still on stderr";
}

}  // namespace
}  // namespace wsgate::test
