// Proves the test support pieces (echo backend, WsClient, ChildProcess)
// against each other, with no wsgate in between, so later integration tests
// can trust them.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/backend_commands.h"
#include "tests/support/process.h"
#include "tests/support/ws_client.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string pattern_bytes(std::size_t n, unsigned seed = 7) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed + (i >> 9)) & 0xff);
  return s;
}

// Resident memory of a process in KiB, from /proc.
long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> value;
      break;
    }
  }
  return value;
}

class EchoBackendTest : public ::testing::Test {
 protected:
  EchoBackend backend_{"alpha"};

  // Every test also proves a clean shutdown: under ASan/UBSan a leak or an
  // error report turns into a non-zero exit here.
  void TearDown() override {
    ChildProcess& p = backend_.process();
    if (!p.running()) return;  // a test that stopped it checked the exit itself
    const ExitStatus st = p.stop();
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << p.stderr_text();
  }

  WsClient open(const std::string& path = "/echo") {
    WsClient ws = backend_.open(path);
    EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    return ws;
  }

  // Sends a frame the backend must refuse and checks the 1002 and the log line.
  void expect_protocol_error(const RawFrame& f, const std::string& log_text) {
    WsClient ws = open();
    ws.send_raw_frame(f);
    EXPECT_EQ(ws.expect_close().code, 1002);
    ws.wait_eof();
    backend_.process().wait_for_output(log_text, 2s, Match::kSubstring, Stream::kStderr);
  }
};

// ---------------------------------------------------------------- codec

TEST(Codec, AcceptMatchesRfc6455Example) {
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Codec, MaskedFrameMatchesRfc6455Example) {
  // RFC 6455 5.7: a masked "Hello".
  const RawFrame f = RawFrame::of(kText, "Hello").with_key({0x37, 0xfa, 0x21, 0x3d});
  EXPECT_EQ(build_frame(f), std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
}

TEST(Codec, ParserDeliversPayloadInChunks) {
  RawFrame f;
  f.opcode = kBinary;
  f.payload = pattern_bytes(70000);
  std::string wire = build_frame(f);
  FrameParser p;
  std::string got;
  bool ended = false;
  // Feed in odd-sized pieces to cross header and payload boundaries.
  for (std::size_t pos = 0; pos < wire.size() || !ended;) {
    const std::size_t n = std::min<std::size_t>(777, wire.size() - pos);
    std::span<std::uint8_t> in(reinterpret_cast<std::uint8_t*>(wire.data()) + pos, n);
    std::size_t used = 0;
    const auto ev = p.next(in, used);
    pos += used;
    if (ev.kind == FrameParser::Kind::kPayload)
      got.append(reinterpret_cast<const char*>(ev.payload.data()), ev.payload.size());
    ended = ev.kind == FrameParser::Kind::kEnd;
    ASSERT_FALSE(ev.kind == FrameParser::Kind::kNeedMore && pos == wire.size() && !ended);
  }
  EXPECT_EQ(p.header().length, 70000u);
  EXPECT_TRUE(p.header().masked);
  EXPECT_EQ(got, f.payload);
}

TEST(Codec, CommandsParseExactlyOrNotAtAll) {
  EXPECT_EQ(parse_command("close:4001:bye")->close_code, 4001);
  EXPECT_FALSE(parse_command("close::")->close_code.has_value());
  EXPECT_EQ(parse_command("flood:3:10")->count, 3u);
  EXPECT_FALSE(parse_command("flood:3:x"));
  EXPECT_FALSE(parse_command("whoami "));
  EXPECT_FALSE(parse_command("close:99999:x"));
  EXPECT_EQ(parse_command("pongs")->kind, Command::Kind::kPongs);
  EXPECT_FALSE(parse_command("pongs:"));
}

// ---------------------------------------------------------------- handshake

TEST_F(EchoBackendTest, HandshakeSucceeds) {
  WsClient ws = open("/chat/room?x=1");
  EXPECT_EQ(ws.status(), 101);
  EXPECT_EQ(ws.response().header("x-backend"), "alpha");
}

TEST_F(EchoBackendTest, ChoosesFirstOfferedSubprotocol) {
  WsClient ws = backend_.open("/", {}, {"chat.v2", "chat.v1"});
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  EXPECT_EQ(ws.response().header("Sec-WebSocket-Protocol"), "chat.v2");
}

TEST_F(EchoBackendTest, WorksOverIpv6Loopback) {
  EchoBackend v6("six", {}, "::1");
  WsClient ws = v6.open("/");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  ws.send_text("whoami");
  EXPECT_EQ(ws.recv_message().payload, "six");
}

TEST_F(EchoBackendTest, FramesSentBehindTheRequestAreEchoedAfterThe101) {
  WsClient ws = WsClient::connect(backend_.port());
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  ws.send_raw(WsClient::upgrade_request("/", "127.0.0.1", key, {}, {}) + build_frame(RawFrame::of(kText, "early")));
  EXPECT_EQ(ws.read_http_response().status, 101);
  EXPECT_EQ(ws.recv_message().payload, "early");
}

// ---------------------------------------------------------------- echo

TEST_F(EchoBackendTest, EchoesTextAndBinary) {
  WsClient ws = open();
  ws.send_text("hello");
  Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, kText);
  EXPECT_TRUE(f.fin);
  EXPECT_FALSE(f.masked);
  EXPECT_EQ(f.payload, "hello");

  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  ws.send_binary(all_bytes);
  Message m = ws.recv_message();
  EXPECT_EQ(m.opcode, kBinary);
  EXPECT_EQ(m.payload, all_bytes);

  ws.send_text("");
  EXPECT_EQ(ws.recv_message().payload, "");
}

TEST_F(EchoBackendTest, FragmentsStayFragments) {
  WsClient ws = open();
  ws.send_fragments(kText, {"ab", "cde", "f"});
  const std::vector<std::pair<std::uint8_t, std::string>> want = {
      {kText, "ab"}, {kContinuation, "cde"}, {kContinuation, "f"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    Frame f = ws.recv_frame();
    EXPECT_EQ(f.opcode, want[i].first);
    EXPECT_EQ(f.payload, want[i].second);
    EXPECT_EQ(f.fin, i + 1 == want.size());
  }
  ws.send_fragments(kBinary, {"x", "y"});
  Message m = ws.recv_message();
  EXPECT_EQ(m.payload, "xy");
  EXPECT_EQ(m.frames, 2u);
}

TEST_F(EchoBackendTest, PingBetweenFragmentsIsAnsweredInPlace) {
  WsClient ws = open();
  ws.send_frame(kText, "one", false);
  ws.ping("mid");
  ws.send_frame(kContinuation, "two", true);
  Message pong = ws.recv_message();  // the control frame comes out on its own
  EXPECT_EQ(pong.opcode, kPong);
  EXPECT_EQ(pong.payload, "mid");
  EXPECT_EQ(ws.recv_message().payload, "onetwo");
}

TEST_F(EchoBackendTest, EchoesOneMebibyte) {
  WsClient ws = open();
  const std::string data = pattern_bytes(1 << 20);
  ws.send_binary(data);
  EXPECT_EQ(ws.recv_message().payload, data);
}

TEST_F(EchoBackendTest, EchoesSixteenMebibytesInOneFrameAndInFragments) {
  WsClient ws = open();
  const std::string data = pattern_bytes(16 << 20, 3);
  ws.send_binary(data, 30s);
  Frame f = ws.recv_frame(30s);
  EXPECT_EQ(f.payload.size(), data.size());
  EXPECT_TRUE(f.payload == data);

  std::vector<std::string> parts;
  for (std::size_t off = 0; off < data.size(); off += 1 << 20) parts.push_back(data.substr(off, 1 << 20));
  ws.send_fragments(kBinary, parts, 30s);
  Message m = ws.recv_message(30s);
  EXPECT_EQ(m.frames, 16u);
  EXPECT_TRUE(m.payload == data);
}

TEST_F(EchoBackendTest, StreamsWithBoundedMemoryWhenTheClientDoesNotRead) {
  WsClient ws = open();
  const long before = rss_kib(backend_.process().pid());
  ws.set_read_while_sending(false);
  // 128 MiB cannot fit in the socket buffers: the send must stall because the
  // backend stops reading once its own output passes its high-water mark.
  const std::string chunk = pattern_bytes(1 << 20);
  bool stalled = false;
  try {
    ws.send_frame(kBinary, std::string(), false);
    for (int i = 0; i < 128; ++i) ws.send_frame(kContinuation, chunk, i == 127, true, 0, 2s);
  } catch (const TestIoError&) {
    stalled = true;
  }
  EXPECT_TRUE(stalled) << "backend read 128 MiB without the client reading its echo";
  const long after = rss_kib(backend_.process().pid());
  EXPECT_LT(after - before, 32 * 1024) << "backend RSS grew from " << before << " to " << after;
}

TEST_F(EchoBackendTest, FloodRespectsAClientThatDoesNotRead) {
  WsClient ws = open();
  const long before = rss_kib(backend_.process().pid());
  ws.send_text("flood:1000:1048576");  // 1 GiB
  EXPECT_FALSE(ws.try_wait_eof(1500ms));
  const long after = rss_kib(backend_.process().pid());
  EXPECT_LT(after - before, 32 * 1024) << "backend RSS grew from " << before << " to " << after;
}

// ---------------------------------------------------------------- control

TEST_F(EchoBackendTest, AnswersPingWithPong) {
  WsClient ws = open();
  ws.ping("are you there");
  Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, kPong);
  EXPECT_EQ(f.payload, "are you there");
}

TEST_F(EchoBackendTest, EchoesCloseCodeAndReasonThenClosesTcp) {
  WsClient ws = open();
  ws.close(4000, "bye now");
  CloseInfo c = ws.expect_close();
  EXPECT_EQ(c.code, 4000);
  EXPECT_EQ(c.reason, "bye now");
  EXPECT_EQ(ws.wait_eof(), PeerClosed::kFin);
}

TEST_F(EchoBackendTest, EmptyCloseIsReportedAs1005) {
  WsClient ws = open();
  ws.close_without_body();
  EXPECT_EQ(ws.expect_close().code, 1005);
  ws.wait_eof();
}

// ---------------------------------------------------------------- commands

TEST_F(EchoBackendTest, WhoamiAndHeaders) {
  WsClient ws = backend_.open("/h/x?mode=&q=1", {{"X-Test", "yes"}});
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  ws.send_text("whoami");
  EXPECT_EQ(ws.recv_message().payload, "alpha");
  ws.send_text("headers");
  const std::string head = ws.recv_message().payload;
  EXPECT_TRUE(head.starts_with("GET /h/x?mode=&q=1 HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("\r\nX-Test: yes"), std::string::npos) << head;
  EXPECT_FALSE(head.ends_with("\r\n")) << head;
}

TEST_F(EchoBackendTest, CloseCommandSendsCodeAndWaitsForTheReply) {
  WsClient ws = open();
  ws.send_text("close:4001:custom reason");
  CloseInfo c = ws.expect_close();
  EXPECT_EQ(c.code, 4001);
  EXPECT_EQ(c.reason, "custom reason");
  EXPECT_FALSE(ws.try_wait_eof(200ms)) << "backend must wait for our close reply";
  ws.close(4001);
  ws.wait_eof();
}

TEST_F(EchoBackendTest, CloseCommandWithoutCodeSendsEmptyBody) {
  WsClient ws = open();
  ws.send_text("close::");
  EXPECT_EQ(ws.expect_close().code, 1005);
}

TEST_F(EchoBackendTest, DropClosesTcpWithoutCloseFrame) {
  WsClient ws = open();
  ws.send_text("drop");
  EXPECT_THROW(ws.recv_frame(), TestIoError);  // "peer closed TCP while waiting for a frame"
  EXPECT_TRUE(ws.peer_closed());
}

TEST_F(EchoBackendTest, SendMaskedSendsAMaskedFrame) {
  WsClient ws = open();
  ws.send_text("send-masked");
  Frame f = ws.recv_frame();
  EXPECT_TRUE(f.masked);
  EXPECT_EQ(f.payload, "masked");
}

TEST_F(EchoBackendTest, PingCommandReportsTheMatchingPong) {
  WsClient ws = open();
  ws.send_text("ping:abc");
  Frame ping = ws.recv_frame();
  EXPECT_EQ(ping.opcode, kPing);
  EXPECT_EQ(ping.payload, "abc");
  ws.pong("not it");  // an unsolicited pong is ignored
  ws.pong("abc");
  EXPECT_EQ(ws.recv_message().payload, "pong:abc");
}

TEST_F(EchoBackendTest, FloodSendsPatternedMessagesThenDone) {
  WsClient ws = open();
  ws.send_text("flood:5:200000");
  for (std::uint64_t m = 0; m < 5; ++m) {
    Message msg = ws.recv_message();
    ASSERT_EQ(msg.opcode, kBinary);
    ASSERT_EQ(msg.payload.size(), 200000u);
    for (std::size_t i = 0; i < msg.payload.size(); i += 997)
      ASSERT_EQ(static_cast<std::uint8_t>(msg.payload[i]), flood_byte(m, i));
  }
  EXPECT_EQ(ws.recv_message().payload, "flood-done");
  ws.send_text("after");  // input resumes after the flood
  EXPECT_EQ(ws.recv_message().payload, "after");
}

TEST_F(EchoBackendTest, PongsCountsThePongsItReceived) {
  WsClient ws = open();
  ws.send_text("pongs");
  EXPECT_EQ(ws.recv_message().payload, "pongs:0");
  ws.pong("unsolicited");
  ws.pong("");
  ws.send_text("pongs");
  EXPECT_EQ(ws.recv_message().payload, "pongs:2");
}

TEST_F(EchoBackendTest, LogsTheCodeOfAPeerClose) {
  WsClient ws = open();
  ws.close(4001, "bye now");
  ws.expect_close();
  ws.wait_eof();
  backend_.process().wait_for_output("peer sent close 4001; echoing it", kDefaultTimeout, Match::kSubstring,
                                     Stream::kStderr);
}

TEST_F(EchoBackendTest, StatsCountsLiveSessions) {
  WsClient a = open(), b = open(), c = open();
  a.send_text("stats");
  EXPECT_EQ(a.recv_message().payload, R"({"connections":3})");
  c.close();
  c.expect_close();
  c.wait_eof();
  a.send_text("stats");
  EXPECT_EQ(a.recv_message().payload, R"({"connections":2})");
}

TEST_F(EchoBackendTest, MalformedCommandsAreEchoed) {
  WsClient ws = open();
  ws.send_text("flood:x:y");
  EXPECT_EQ(ws.recv_message().payload, "flood:x:y");
}

// ---------------------------------------------------------------- modes

struct StatusCase {
  std::string mode;
  int status;
  std::string body;
  std::string header, value;
};

TEST_F(EchoBackendTest, StatusModesAnswerPlainHttp) {
  const std::vector<StatusCase> cases = {
      {"status-403", 403, "forbidden by backend alpha", "", ""},
      {"status-426", 426, "upgrade required by backend alpha", "Sec-WebSocket-Version", "13"},
      {"status-200", 200, "ok from backend alpha", "", ""},
      {"status-503", 503, "unavailable from backend alpha", "Retry-After", "7"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mode);
    WsClient ws = backend_.open("/any/path?mode=" + c.mode);
    EXPECT_FALSE(ws.handshake_ok());
    EXPECT_EQ(ws.status(), c.status);
    EXPECT_EQ(ws.response().body, c.body);
    EXPECT_EQ(ws.response().header("Content-Length"), std::to_string(c.body.size()));
    if (!c.header.empty()) {
      EXPECT_EQ(ws.response().header(c.header), c.value);
    }
    ws.wait_eof();
  }
}

TEST_F(EchoBackendTest, Bad101ModesAreVisibleInTheRawResponse) {
  WsClient bad_accept = backend_.open("/?mode=bad-accept");
  EXPECT_EQ(bad_accept.status(), 101);
  EXPECT_NE(bad_accept.handshake_error().find("Sec-WebSocket-Accept"), std::string::npos);

  WsClient no_upgrade = backend_.open("/?mode=no-upgrade");
  EXPECT_EQ(no_upgrade.status(), 101);
  EXPECT_FALSE(no_upgrade.response().header("Upgrade"));
  EXPECT_FALSE(no_upgrade.handshake_ok());

  WsClient ext = backend_.open("/?mode=extension");
  EXPECT_EQ(ext.response().header("Sec-WebSocket-Extensions"), "permessage-deflate");
  EXPECT_FALSE(ext.handshake_ok());

  WsClient proto = backend_.open("/?mode=unoffered-protocol");
  EXPECT_NE(proto.response().head.raw.find("\r\nSec-WebSocket-Protocol: bogus\r\n"), std::string::npos);
  EXPECT_FALSE(proto.handshake_ok());
}

TEST_F(EchoBackendTest, HangNeverAnswers) {
  WsClient ws = WsClient::connect(backend_.port());
  ws.send_raw(WsClient::upgrade_request("/?mode=hang", "x", "dGhlIHNhbXBsZSBub25jZQ==", {}, {}));
  EXPECT_FALSE(ws.try_read_http_response(300ms));
  EXPECT_FALSE(ws.peer_closed());
}

TEST_F(EchoBackendTest, SlowAnswersAfterTheDelay) {
  const auto start = Clock::now();
  WsClient ws = backend_.open("/?mode=slow-300");
  // libuv's timers count from the loop's cached clock (ms granularity), so
  // the answer may come up to a millisecond before 300 ms of ours (299.7 seen).
  EXPECT_GE(Clock::now() - start, 295ms);
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  ws.send_text("still works");
  EXPECT_EQ(ws.recv_message().payload, "still works");
}

TEST_F(EchoBackendTest, RefusesBadUpgradeRequests) {
  EXPECT_EQ(backend_.open("/?mode=nonsense").status(), 400);
  EXPECT_EQ(backend_.open("/", {{"Sec-WebSocket-Key", std::nullopt}}).status(), 400);
  EXPECT_EQ(backend_.open("/", {{"Upgrade", "h2c"}}).status(), 400);

  WsClient post = WsClient::connect(backend_.port());
  post.send_raw("POST / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\n\r\n");
  EXPECT_EQ(post.read_http_response().status, 400);

  WsClient big = WsClient::connect(backend_.port());
  big.send_raw("GET / HTTP/1.1\r\nX-Pad: " + std::string(17000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big.read_http_response().status, 431);
}

// ---------------------------------------------------------------- hostile frames

TEST_F(EchoBackendTest, UnmaskedFrameIsClosedWith1002) {
  expect_protocol_error(RawFrame::of(kText, "naked").unmasked(), "unmasked frame");
}

TEST_F(EchoBackendTest, OtherViolationsAreClosedWith1002) {
  expect_protocol_error(RawFrame::of(3), "reserved opcode");
  expect_protocol_error(RawFrame::of(kText, "x").with_rsv(4), "RSV bits");
  expect_protocol_error(RawFrame::of(kPing, std::string(126, 'p')), "oversized control frame");
  expect_protocol_error(RawFrame::of(kPing).not_final(), "fragmented or oversized");
  expect_protocol_error(RawFrame::of(kContinuation, "x"), "no message open");
  expect_protocol_error(RawFrame::of(kBinary).with_length(1ull << 63, LengthForm::k64Bit), "top bit");
}

// ---------------------------------------------------------------- scale

TEST_F(EchoBackendTest, TwoHundredConcurrentClientsEcho) {
  std::vector<WsClient> clients;
  for (int i = 0; i < 200; ++i) {
    clients.push_back(open());
    ASSERT_TRUE(clients.back().handshake_ok());
  }
  for (int i = 0; i < 200; ++i) clients[i].send_text("client " + std::to_string(i));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(clients[i].recv_message().payload, "client " + std::to_string(i));
  clients[0].send_text("stats");
  EXPECT_EQ(clients[0].recv_message().payload, R"({"connections":200})");
}

// ---------------------------------------------------------------- shutdown

TEST_F(EchoBackendTest, SigtermClosesEverySessionWith1001AndExitsZero) {
  std::vector<WsClient> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(open());
  clients[0].send_text("hello");
  EXPECT_EQ(clients[0].recv_message().payload, "hello");
  backend_.process().send_signal(SIGTERM);
  for (auto& ws : clients) {
    CloseInfo c = ws.expect_close(3s);
    EXPECT_EQ(c.code, 1001);
    ws.close(1001);
  }
  EXPECT_TRUE(backend_.process().wait_exit(3s).ok()) << backend_.process().stderr_text();
}

TEST_F(EchoBackendTest, SigtermDuringAFloodFinishesTheMessageThenCloses) {
  WsClient ws = open();
  ws.send_text("flood:1000:1048576");
  ws.recv_frame();  // the flood is under way
  backend_.process().send_signal(SIGTERM);
  for (int frames = 0;; ++frames) {
    Frame f = ws.recv_frame(3s);
    if (f.opcode == kClose) {
      EXPECT_EQ(parse_close_payload(f.payload)->code, 1001);
      EXPECT_LT(frames, 999) << "the flood should stop early";
      break;
    }
    ASSERT_EQ(f.opcode, kBinary);
    ASSERT_EQ(f.payload.size(), 1048576u);  // never cut inside a message
  }
  ws.close(1001);
  EXPECT_TRUE(backend_.process().wait_exit(3s).ok()) << backend_.process().stderr_text();
}

TEST_F(EchoBackendTest, SigtermGivesSilentPeersOneSecond) {
  WsClient ws = open();
  const auto start = Clock::now();
  backend_.process().send_signal(SIGTERM);
  EXPECT_EQ(ws.expect_close(3s).code, 1001);  // and we never answer
  const ExitStatus st = backend_.process().wait_exit(5s);
  EXPECT_TRUE(st.ok()) << st.describe();
  EXPECT_GE(Clock::now() - start, 900ms);
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(ChildProcessTest, CapturesOutputAndExitStatus) {
  ChildProcess p({"/bin/sh", "-c", "echo out-$X; echo err >&2; exit 3"}, {"X=42"});
  EXPECT_EQ(p.wait_for_output("out-42"), "out-42");
  EXPECT_EQ(p.wait_for_output(R"(e(r+))", 2s, Match::kRegex, Stream::kStderr), "rr");
  const ExitStatus st = p.wait_exit();
  EXPECT_TRUE(st.exited);
  EXPECT_EQ(st.code, 3);
}

TEST(ChildProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    ChildProcess p({"/bin/sleep", "30"});
    pid = p.pid();
    EXPECT_TRUE(p.running());
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid is gone
}

TEST(ChildProcessTest, WaitForOutputFailsClearlyWhenTheProcessExits) {
  ChildProcess p({"/bin/sh", "-c", "echo bye; exit 1"});
  try {
    p.wait_for_output("never");
    FAIL() << "expected a TestIoError";
  } catch (const TestIoError& e) {
    EXPECT_NE(std::string(e.what()).find("exited (exit 1)"), std::string::npos) << e.what();
  }
}

TEST(TempDirTest, IsRemovedRecursively) {
  std::filesystem::path where;
  {
    TempDir d;
    where = d.path();
    std::filesystem::create_directories(d / "a/b");
    write_file(d / "a/b/c.txt", "content");
    EXPECT_EQ(read_file(d / "a/b/c.txt"), "content");
  }
  EXPECT_FALSE(std::filesystem::exists(where));
}

}  // namespace
}  // namespace wsgate::test
