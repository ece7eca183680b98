// The bench client's wss against the echo backend serving wss, both real
// processes with a throwaway CA made by Debian's openssl: every echoed byte
// verified through TLS, full and resumed handshakes counted as the server saw
// them, and a certificate from the wrong CA refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace wsgate::test {
namespace {

std::string bench_client_path() {
  if (const char* env = std::getenv("WSGATE_BENCH_CLIENT")) return env;
  return BENCH_CLIENT_BIN;
}

void run_ok(std::vector<std::string> argv) {
  ChildProcess p(std::move(argv));
  const ExitStatus st = p.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(st.ok()) << st.describe() << "\n" << p.stderr_text();
}

// ca.pem/ca.key, and server.pem/server.key for localhost and 127.0.0.1 signed
// by it, in `dir` under `prefix`.
void make_certificates(const TempDir& dir, const std::string& prefix) {
  const auto f = [&](const std::string& name) { return (dir / (prefix + name)).string(); };
  const std::vector<std::string> keygen = {"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"};
  auto with = [](std::vector<std::string> v, const std::string& last) {
    v.push_back(last);
    return v;
  };
  run_ok(with(keygen, f("ca.key")));
  run_ok({"openssl", "req", "-x509", "-new", "-key", f("ca.key"), "-subj", "/CN=bench test CA", "-days", "2",
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", "-out",
          f("ca.pem")});
  run_ok(with(keygen, f("server.key")));
  run_ok({"openssl", "req", "-new", "-key", f("server.key"), "-subj", "/CN=localhost", "-out", f("server.csr")});
  write_file(f("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  run_ok({"openssl", "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
          "-CAcreateserial", "-days", "2", "-extfile", f("ext.cnf"), "-out", f("server.pem")});
}

// A number of the client's result line: `"key":N` (the first occurrence).
double field(const std::string& line, const std::string& key) {
  const std::size_t at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::strtod(line.c_str() + at + key.size() + 3, nullptr);
}

struct ClientRun {
  int exit_code = -1;
  std::string result;  // the {"event":"result",...} line
  std::string err;
};

ClientRun bench(std::vector<std::string> args) {
  args.insert(args.begin(), bench_client_path());
  ChildProcess p(std::move(args));
  const ExitStatus st = p.wait_exit(std::chrono::seconds(60));
  ClientRun r;
  r.exit_code = st.exited ? st.code : -1;
  r.err = p.stderr_text();
  const std::string out = p.stdout_text();
  const std::size_t at = out.rfind("{\"event\":\"result\"");
  if (at != std::string::npos) r.result = out.substr(at);
  return r;
}

class BenchTls : public ::testing::Test {
 protected:
  void SetUp() override {
    make_certificates(dir_, "");
    if (HasFatalFailure()) return;
    backend_ = std::make_unique<EchoBackend>(
        "tls", std::vector<std::string>{"--quiet", "--tls-cert", (dir_ / "server.pem").string(), "--tls-key",
                                        (dir_ / "server.key").string()});
    url_ = "wss://localhost:" + std::to_string(backend_->port()) + "/t";
  }
  std::string ca() const { return (dir_ / "ca.pem").string(); }

  TempDir dir_{"wsgate-bench-tls"};
  std::unique_ptr<EchoBackend> backend_;
  std::string url_;
};

TEST_F(BenchTls, EchoesAreVerifiedThroughTls) {
  for (const char* size : {"64", "16384", "100000"}) {
    const ClientRun r = bench({"echo", "--url", url_, "--ca-file", ca(), "--connections", "4", "--size", size,
                         "--duration", "0.5", "--warmup", "0.1"});
    ASSERT_EQ(r.exit_code, 0) << r.result << r.err;
    EXPECT_EQ(field(r.result, "error_total"), 0) << r.result;
    EXPECT_GT(field(r.result, "messages"), 0) << r.result;
    EXPECT_EQ(field(r.result, "full"), 4) << r.result;
    EXPECT_EQ(field(r.result, "resumed"), 0) << r.result;
  }
}

TEST_F(BenchTls, WithoutResumeEveryHandshakeIsFull) {
  const ClientRun r = bench({"handshake", "--url", url_, "--ca-file", ca(), "--sessions", "100", "--concurrency", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.result << r.err;
  EXPECT_EQ(field(r.result, "completed"), 100) << r.result;
  EXPECT_EQ(field(r.result, "full"), 100) << r.result;
  EXPECT_EQ(field(r.result, "resumed"), 0) << r.result;
  EXPECT_EQ(field(r.result, "offered"), 0) << r.result;
}

// Several handshakes in flight offer the same newest ticket: each must get its
// own copy, or TLS 1.3 resumptions fail their binders and fall back to full.
TEST_F(BenchTls, ResumeIsTakenForEveryOfferedTicket) {
  for (const char* version : {"1.3", "1.2"}) {
    const ClientRun r = bench({"handshake", "--url", url_, "--ca-file", ca(), "--sessions", "300", "--concurrency", "8",
                         "--resume", "--tls-version", version});
    ASSERT_EQ(r.exit_code, 0) << version << r.result << r.err;
    EXPECT_EQ(field(r.result, "completed"), 300) << version;
    EXPECT_GE(field(r.result, "offered"), 290) << version << r.result;
    EXPECT_EQ(field(r.result, "resumed_of_offered"), 1) << version << r.result;
    EXPECT_EQ(field(r.result, "resumed") + field(r.result, "full"), 300) << version << r.result;
  }
}

TEST_F(BenchTls, AServerFromAnotherCaIsRefused) {
  make_certificates(dir_, "other-");
  ASSERT_FALSE(HasFatalFailure());
  const ClientRun r = bench({"handshake", "--url", url_, "--ca-file", (dir_ / "other-ca.pem").string(), "--sessions", "3",
                       "--concurrency", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.result;
  EXPECT_EQ(field(r.result, "handshake"), 3) << r.result;
  EXPECT_NE(r.result.find("certificate verify failed"), std::string::npos) << r.result;
}

TEST_F(BenchTls, PlainWebSocketToTheTlsBackendFailsCleanly) {
  const ClientRun r = bench({"handshake", "--url", "ws://127.0.0.1:" + std::to_string(backend_->port()) + "/t",
                       "--sessions", "2", "--concurrency", "1", "--duration", "10"});
  EXPECT_EQ(r.exit_code, 1) << r.result;
  EXPECT_EQ(field(r.result, "completed"), 0) << r.result;
  EXPECT_TRUE(backend_->process().running());  // and the backend goes on serving TLS
  const ClientRun ok = bench({"handshake", "--url", url_, "--insecure", "--sessions", "2", "--concurrency", "1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.result << ok.err;
}

TEST_F(BenchTls, AWssUrlNeedsACaOrInsecure) {
  const ClientRun r = bench({"echo", "--url", url_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--ca-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wsgate::test
