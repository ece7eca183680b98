// End-to-end relaying through the real wsgate binary: payloads, opcodes,
// fragment boundaries, control frames and close codes arrive exactly as sent,
// both ways; drops (F14), masking toward backends (F3), many concurrent
// sessions, and bounded memory under a client that never reads (R1).
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/backend_commands.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

std::string pattern_bytes(std::size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed + (i >> 9)) & 0xff);
  return s;
}

// ---------------------------------------------------------------- /proc

// Whole small file, "" if it cannot be read (a process may exit meanwhile).
std::string slurp(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

long rss_kib(pid_t pid) {
  const std::string s = slurp("/proc/" + std::to_string(pid) + "/status");
  const std::size_t at = s.find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtol(s.c_str() + at + 6, nullptr, 10);
}

pid_t parent_of(pid_t pid) {
  const std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = s.rfind(')');
  int ppid = -1;
  if (close == std::string::npos || std::sscanf(s.c_str() + close + 1, " %*c %d", &ppid) != 1) return -1;
  return ppid;
}

// The master and every process it forked.
std::vector<pid_t> gateway_pids(pid_t master) {
  std::vector<pid_t> pids{master};
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir("/proc"), &::closedir);
  while (dirent* e = d ? ::readdir(d.get()) : nullptr) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end == '\0' && pid > 0 && parent_of(static_cast<pid_t>(pid)) == master)
      pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

long gateway_rss_kib(pid_t master) {
  long sum = 0;
  for (pid_t p : gateway_pids(master)) sum += rss_kib(p);
  return sum;
}

// ---------------------------------------------------------------- fixture

class RelayTest : public ::testing::Test {
 protected:
  EchoBackend be_{"alpha"};
  Gateway gw_{pool_yaml("chat", {be_.port()}) + kRoute, 2};

  void TearDown() override {
    // Any sanitizer report or crash in wsgate shows up as an unclean exit.
    const ExitStatus st = gw_.process().stop(10s);
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("protocol error", Match::kSubstring, Stream::kStderr))
        << be_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("peer closed TCP without a close frame", Match::kSubstring, Stream::kStderr))
        << "wsgate dropped a backend without a close:\n"
        << be_.process().stderr_text();
  }

  WsClient open() {
    WsClient ws = gw_.open("/chat");
    EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    return ws;
  }

  void expect_sessions(long n) {
    const Status s = gw_.wait_status([n](const Status& st) { return st.total_sessions() == n; });
    EXPECT_EQ(s.total_sessions(), n) << gw_.process().stderr_text();
  }

  // Live sessions the backend counts, asked on a direct connection (which
  // counts itself), polled until it equals `want`.
  long backend_sessions_until(WsClient& direct, long want, milliseconds timeout = 5000ms) {
    const auto deadline = Clock::now() + timeout;
    long n = -1;
    for (;;) {
      direct.send_text("stats");
      const std::string s = direct.recv_message().payload;
      n = std::stol(s.substr(s.find(':') + 1));
      if (n == want || Clock::now() > deadline) return n;
      ::usleep(20 * 1000);
    }
  }

  // Our close, its echo with the same code and reason, then EOF.
  void close_cleanly(WsClient& ws, std::uint16_t code = 1000, const std::string& reason = "") {
    ws.close(code, reason);
    const CloseInfo c = ws.expect_close();
    EXPECT_EQ(c.code, code);
    EXPECT_EQ(c.reason, reason);
    ws.wait_eof();
  }
};

void expect_frame(WsClient& ws, std::uint8_t opcode, const std::string& payload, bool fin = true) {
  const Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, opcode) << "payload \"" << f.payload << "\"";
  EXPECT_EQ(f.payload, payload);
  EXPECT_EQ(f.fin, fin);
  EXPECT_EQ(f.rsv, 0);
  EXPECT_FALSE(f.masked) << "wsgate must not mask frames toward a client";
}

// Lower-case suite name so `ctest -R 'relay'` selects these tests.
using relay = RelayTest;

// ---------------------------------------------------------------- echo

TEST_F(relay, EchoesTextBinaryAndEmptyMessagesExactly) {
  WsClient ws = open();
  ws.send_text("hello, wsgate");
  expect_frame(ws, kText, "hello, wsgate");
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  ws.send_binary(all_bytes);
  expect_frame(ws, kBinary, all_bytes);
  ws.send_text("");
  expect_frame(ws, kText, "");
  ws.send_binary("");
  expect_frame(ws, kBinary, "");
  ws.send_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // multi-byte UTF-8
  expect_frame(ws, kText, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  close_cleanly(ws);
  expect_sessions(0);
}

TEST_F(relay, EchoesOneMebibyte) {
  WsClient ws = open();
  const std::string data = pattern_bytes(1 << 20);
  ws.send_binary(data, 20s);
  const Message m = ws.recv_message(20s);
  EXPECT_EQ(m.opcode, kBinary);
  EXPECT_EQ(m.frames, 1u);
  EXPECT_TRUE(m.payload == data) << "1 MiB echo differs (size " << m.payload.size() << ")";
  close_cleanly(ws);
}

TEST_F(relay, SixteenMebibytesPassWholeAndByteExact) {
  WsClient ws = open();
  const std::string data = pattern_bytes(16 << 20, 3);  // exactly the default max_message
  ws.send_binary(data, 30s);
  const Message one = ws.recv_message(30s);
  EXPECT_EQ(one.opcode, kBinary);
  EXPECT_EQ(one.frames, 1u);
  EXPECT_EQ(one.payload.size(), data.size());
  EXPECT_TRUE(one.payload == data);

  std::vector<std::string> parts;
  for (std::size_t off = 0; off < data.size(); off += 1 << 20) parts.push_back(data.substr(off, 1 << 20));
  ws.send_fragments(kBinary, parts, 30s);
  const Message frag = ws.recv_message(30s);
  EXPECT_EQ(frag.frames, 16u);
  EXPECT_TRUE(frag.payload == data);
  close_cleanly(ws);
}

TEST_F(relay, FragmentBoundariesArePreserved) {
  WsClient ws = open();
  ws.send_fragments(kText, {"ab", "cde", "f"});
  expect_frame(ws, kText, "ab", false);
  expect_frame(ws, kContinuation, "cde", false);
  expect_frame(ws, kContinuation, "f", true);

  ws.send_fragments(kBinary, {"", "x", "", pattern_bytes(70000)});  // empty fragments too
  const Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kBinary);
  EXPECT_EQ(m.frames, 4u);
  EXPECT_EQ(m.payload, "x" + pattern_bytes(70000));
  close_cleanly(ws);
}

TEST_F(relay, ControlFramesBetweenFragmentsAreRelayedInOrder) {
  WsClient ws = open();
  ws.send_frame(kText, "one", false);
  ws.ping("p1");
  ws.pong("unsolicited");  // relayed to the backend, which ignores it
  ws.send_frame(kContinuation, "two", false);
  ws.ping("p2");
  ws.send_frame(kContinuation, "three", true);
  expect_frame(ws, kText, "one", false);
  expect_frame(ws, kPong, "p1");
  expect_frame(ws, kContinuation, "two", false);
  expect_frame(ws, kPong, "p2");
  expect_frame(ws, kContinuation, "three", true);

  // A close in the middle of a message ends it; it arrives after the fragment.
  ws.send_frame(kBinary, "half", false);
  ws.close(1000, "mid-message");
  expect_frame(ws, kBinary, "half", false);
  expect_frame(ws, kClose, close_payload(1000, "mid-message"));
  ws.wait_eof();
  expect_sessions(0);
}

// ---------------------------------------------------------------- ping/pong

TEST_F(relay, ClientPingIsAnsweredByTheBackendWithTheSamePayload) {
  WsClient ws = open();
  ws.ping("are you there?");
  expect_frame(ws, kPong, "are you there?");
  const std::string max_payload = pattern_bytes(125, 11);
  ws.ping(max_payload);
  expect_frame(ws, kPong, max_payload);
  ws.ping("");
  expect_frame(ws, kPong, "");
  close_cleanly(ws);
}

TEST_F(relay, BackendPingReachesTheClientAndItsPongGoesBack) {
  WsClient ws = open();
  ws.send_text("ping:abc");
  expect_frame(ws, kPing, "abc");
  ws.pong("abc");
  expect_frame(ws, kText, "pong:abc");  // the backend got our pong, payload intact
  close_cleanly(ws);
}

// ---------------------------------------------------------------- close

TEST_F(relay, ClientCloseCodeAndReasonComeBackThenEof) {
  WsClient ws = open();
  ws.close(4000, "bye");
  const Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.payload, close_payload(4000, "bye"));
  EXPECT_EQ(ws.wait_eof(), PeerClosed::kFin);
  expect_sessions(0);
}

TEST_F(relay, BackendCloseReachesTheClientExactly) {
  WsClient ws = open();
  ws.send_text("close:4001:server bye");
  const CloseInfo c = ws.expect_close();
  EXPECT_EQ(c.skipped, 0u);
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(c.reason, "server bye");
  EXPECT_FALSE(ws.try_wait_eof(200ms)) << "wsgate must wait for the client's close reply";
  ws.close(4001, "server bye");
  ws.wait_eof();
  expect_sessions(0);
}

TEST_F(relay, ClientCloseWithoutBodyStaysWithoutBody) {
  WsClient ws = open();
  ws.close_without_body();
  const Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.payload, "") << "no body on the wire: the client sees 1005";
  ws.wait_eof();
  expect_sessions(0);
}

TEST_F(relay, BackendCloseWithoutBodyStaysWithoutBody) {
  WsClient ws = open();
  ws.send_text("close::");
  EXPECT_EQ(ws.expect_close().code, 1005);  // 1005 = no body
  ws.close_without_body();
  ws.wait_eof();
  expect_sessions(0);

  WsClient raw = open();
  raw.send_text("close::");
  const Frame f = raw.recv_frame();
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.payload, "");
  raw.close_without_body();
  raw.wait_eof();
  expect_sessions(0);
}

// ---------------------------------------------------------------- drops (F14)

// The pool's default on_backend_loss is `close`: 1012 (service restart), at a
// random moment within loss_spread (default 1 s) so clients do not stampede.
TEST_F(relay, BackendDropGivesTheClient1012WithinTheLossSpread) {
  WsClient ws = open();
  ws.send_text("warm up");
  expect_frame(ws, kText, "warm up");
  const auto start = Clock::now();
  ws.send_text("drop");
  const CloseInfo c = ws.expect_close(3s);
  const auto took = Clock::now() - start;
  EXPECT_EQ(c.code, 1012);
  EXPECT_LT(took, 2s);
  ws.close(1012);
  ws.wait_eof();
  expect_sessions(0);
}

TEST_F(relay, VanishedClientEndsItsBackendSession) {
  WsClient direct = be_.open("/");
  ASSERT_TRUE(direct.handshake_ok()) << direct.handshake_error();
  WsClient ws = open();
  ws.send_text("ready");
  expect_frame(ws, kText, "ready");
  EXPECT_EQ(backend_sessions_until(direct, 2), 2);
  expect_sessions(1);
  ws.disconnect();  // no close frame, TCP gone
  EXPECT_EQ(backend_sessions_until(direct, 1), 1) << be_.process().stderr_text();
  expect_sessions(0);
  EXPECT_TRUE(be_.process().has_output("peer sent close", Match::kSubstring, Stream::kStderr))
      << "the backend should get a close frame (1001), not a bare TCP drop\n"
      << be_.process().stderr_text();
  direct.close(1000);
  direct.expect_close();
  direct.wait_eof();
}

// ---------------------------------------------------------------- masking (F3)

TEST_F(relay, BackendNeverSeesAnUnmaskedFrame) {
  WsClient ws = open();
  ws.send_text("masked?");
  expect_frame(ws, kText, "masked?");
  ws.send_binary(pattern_bytes(200000));
  EXPECT_EQ(ws.recv_message().payload, pattern_bytes(200000));
  ws.send_fragments(kText, {"a", "b"});
  EXPECT_EQ(ws.recv_message().payload, "ab");
  ws.ping("p");
  expect_frame(ws, kPong, "p");
  close_cleanly(ws, 1000, "done");
  expect_sessions(0);
  const std::string log = be_.process().stderr_text();
  EXPECT_NE(log.find("accepted"), std::string::npos) << "the backend saw no session at all\n" << log;
  EXPECT_EQ(log.find("unmasked"), std::string::npos) << log;
}

// ---------------------------------------------------------------- scale

TEST_F(relay, TwoHundredConcurrentClientsOverTwoWorkersEachEchoTwentyMessages) {
  constexpr int kClients = 200, kMessages = 20;
  std::vector<WsClient> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(open());
    ASSERT_TRUE(clients.back().handshake_ok()) << "client " << i;
  }
  const Status s = gw_.wait_status([](const Status& st) { return st.total_sessions() == kClients; });
  ASSERT_EQ(s.backends.size(), 1u);
  ASSERT_EQ(s.backends[0].per_worker.size(), 2u);
  EXPECT_GT(s.backends[0].per_worker[0], 0);
  EXPECT_GT(s.backends[0].per_worker[1], 0);
  EXPECT_EQ(s.backends[0].per_worker[0] + s.backends[0].per_worker[1], kClients);

  for (int m = 0; m < kMessages; ++m) {
    for (int i = 0; i < kClients; ++i) {
      const std::string text = "client " + std::to_string(i) + " message " + std::to_string(m);
      if (m % 2 == 0) clients[i].send_text(text);
      else clients[i].send_binary(text);
    }
    for (int i = 0; i < kClients; ++i) {
      const Message got = clients[i].recv_message(10s);
      ASSERT_EQ(got.payload, "client " + std::to_string(i) + " message " + std::to_string(m));
      ASSERT_EQ(got.opcode, m % 2 == 0 ? kText : kBinary);
    }
  }
  for (auto& c : clients) c.close(1000);
  for (auto& c : clients) {
    EXPECT_EQ(c.expect_close(10s).code, 1000);
    c.wait_eof(10s);
  }
  expect_sessions(0);
}

// ---------------------------------------------------------------- backpressure (R1)

TEST_F(relay, ClientThatNeverReadsKeepsWsgateMemoryBoundedAndLosesNothing) {
  constexpr std::uint64_t kCount = 4000, kSize = 65536;  // 256 MiB
  WsClient ws = open();
  ws.send_text("warm up");
  expect_frame(ws, kText, "warm up");
  const pid_t master = gw_.process().pid();
  ASSERT_GE(gateway_pids(master).size(), 3u) << "master and two workers";
  const long before = gateway_rss_kib(master);

  ws.set_read_while_sending(false);
  ws.send_text("flood:" + std::to_string(kCount) + ":" + std::to_string(kSize));
  long peak = before;
  for (const auto end = Clock::now() + 2s; Clock::now() < end;) {
    peak = std::max(peak, gateway_rss_kib(master));
    ::usleep(50 * 1000);
  }
  int queued = 0;
  ASSERT_EQ(::ioctl(ws.fd(), FIONREAD, &queued), 0);
  EXPECT_GT(queued, 0) << "the flood never started";
  std::printf("[ INFO     ] wsgate RSS %ld KiB before the flood, peak %ld KiB while not reading\n", before, peak);
  EXPECT_LT(peak - before, 64 * 1024) << "wsgate RSS grew from " << before << " KiB to " << peak
                                      << " KiB while its client did not read";
  EXPECT_FALSE(ws.peer_closed());

  // Now read everything: no loss, in order, byte pattern intact.
  for (std::uint64_t m = 0; m < kCount; ++m) {
    Message msg;
    try {
      msg = ws.recv_message(10s);
    } catch (const TestIoError& e) {
      FAIL() << "stalled after " << m << " of " << kCount << " messages: " << e.what() << "\nwsgate:\n"
             << gw_.process().stderr_text();
    }
    ASSERT_EQ(msg.opcode, kBinary) << "message " << m;
    ASSERT_EQ(msg.payload.size(), kSize) << "message " << m;
    for (std::size_t i :
         {std::size_t{0}, std::size_t{1}, std::size_t(m % kSize), std::size_t{kSize / 2}, std::size_t{kSize - 1}}) {
      ASSERT_EQ(static_cast<std::uint8_t>(msg.payload[i]), flood_byte(m, i)) << "message " << m << " byte " << i;
    }
    if (m % 500 == 0) {
      for (std::size_t i = 0; i < kSize; ++i)
        ASSERT_EQ(static_cast<std::uint8_t>(msg.payload[i]), flood_byte(m, i)) << "message " << m << " byte " << i;
    }
  }
  expect_frame(ws, kText, "flood-done");
  ws.set_read_while_sending(true);
  ws.send_text("after");  // the session still works both ways
  expect_frame(ws, kText, "after");
  close_cleanly(ws);
  expect_sessions(0);
}

}  // namespace
}  // namespace wsgate::test
