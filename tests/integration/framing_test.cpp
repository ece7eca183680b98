// docs/RFC6455-CHECKLIST.md rows F1-F16 through the real wsgate binary. Each case
// checks the exact close code the offender gets, that the other side is
// closed cleanly (a close frame, counts back to 0), and (F13) that no close
// frame wsgate sends carries 1005, 1006 or 1015. The echo backend logs
// "protocol error" for anything invalid it receives, so TearDown also proves
// that wsgate never forwarded an invalid frame.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// max_message and max_fragments small enough to reach (F9, F10); /raw does not check UTF-8.
const std::string kLimits = "limits:\n  max_message: 64KiB\n  max_fragments: 10\n  close_timeout: 3s\n";
const std::string kRoutes =
    "routes:\n  - { path: /chat, pool: chat }\n  - { path: /raw, pool: chat, validate_utf8: false }\n";

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
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

// ---------------------------------------------------------------- frames

// A close frame as it was on the wire.
struct WireClose {
  bool has_body = false;
  std::uint16_t code = 1005;
  std::string reason;
};

// Reads up to the next close frame. Every close wsgate sends is checked for
// F13 here: 1005/1006/1015 may never be on the wire.
WireClose recv_close(WsClient& ws, milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    const Frame f = ws.recv_frame(std::max(left, 0ms));
    if (f.opcode != kClose) continue;
    const auto body = parse_close_payload(f.payload);
    if (!body) {
      ADD_FAILURE() << "wsgate sent a close frame with a 1-byte body";
      return {};
    }
    const WireClose w{!f.payload.empty(), body->code, body->reason};
    EXPECT_FALSE(w.has_body && (w.code == 1005 || w.code == 1006 || w.code == 1015))
        << "F13: wsgate put close code " << w.code << " on the wire";
    return w;
  }
}

void expect_frame(WsClient& ws, std::uint8_t opcode, const std::string& payload, bool fin = true) {
  const Frame f = ws.recv_frame();
  EXPECT_EQ(f.opcode, opcode) << "payload \"" << f.payload << "\"";
  EXPECT_EQ(f.payload, payload);
  EXPECT_EQ(f.fin, fin);
}

// Ping i of the flood: "000042:" then padding, 125 bytes.
std::string ping_payload(int i) {
  char head[16];
  std::snprintf(head, sizeof head, "%06d:", i);
  std::string p(head);
  p.resize(125, static_cast<char>('a' + i % 26));
  return p;
}

// ---------------------------------------------------------------- fixture

class FramingTest : public ::testing::Test {
 protected:
  EchoBackend be_{"alpha"};
  Gateway gw_{kLimits + pool_yaml("chat", {be_.port()}) + kRoutes, 2};

  void TearDown() override {
    const ExitStatus st = gw_.process().stop(10s);
    EXPECT_TRUE(st.ok()) << st.describe() << "\n" << gw_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("protocol error", Match::kSubstring, Stream::kStderr))
        << "wsgate forwarded an invalid frame:\n"
        << be_.process().stderr_text();
    EXPECT_FALSE(be_.process().has_output("peer closed TCP without a close frame", Match::kSubstring, Stream::kStderr))
        << "wsgate dropped a backend without a close:\n"
        << be_.process().stderr_text();
  }

  WsClient open(const std::string& path = "/chat", const std::vector<Header>& headers = {}) {
    WsClient ws = gw_.open(path, headers);
    EXPECT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    return ws;
  }

  std::string log() { return gw_.process().stderr_text(); }
  std::size_t backend_closes() { return count_of(be_.process().stderr_text(), "peer sent close"); }

  void expect_sessions(long n) {
    const Status s = gw_.wait_status([n](const Status& st) { return st.total_sessions() == n; });
    EXPECT_EQ(s.total_sessions(), n) << log();
  }

  // The backend got a close frame from wsgate (and echoed it).
  void wait_backend_closes(std::size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (backend_closes() < n && Clock::now() < deadline) ::usleep(20 * 1000);
    EXPECT_EQ(backend_closes(), n) << "the backend was not sent a close frame\n"
                                   << be_.process().stderr_text() << "\nwsgate:\n"
                                   << log();
  }

  // Opens a session, proves it relays, lets `offend` misbehave, then checks
  // the client gets close `code` and EOF, and the backend a clean close.
  void expect_client_rejected(const std::function<void(WsClient&)>& offend, std::uint16_t code,
                              const std::string& path = "/chat") {
    WsClient ws = open(path);
    ws.send_text("before");
    expect_frame(ws, kText, "before");
    const std::size_t closes = backend_closes();
    offend(ws);
    const WireClose c = recv_close(ws);
    EXPECT_TRUE(c.has_body);
    EXPECT_EQ(c.code, code) << "reason \"" << c.reason << "\"\n" << log();
    EXPECT_TRUE(ws.try_wait_eof(5s)) << "wsgate did not close the offender's TCP\n" << log();
    wait_backend_closes(closes + 1);
    expect_sessions(0);
  }

  void expect_frame_rejected(const RawFrame& f, std::uint16_t code) {
    expect_client_rejected([&](WsClient& ws) { ws.send_raw_frame(f); }, code);
  }

  // The client closes with `code`; the backend's echo comes back unchanged.
  void expect_close_relayed(std::uint16_t code, const std::string& reason) {
    WsClient ws = open();
    ws.close(code, reason);
    const WireClose c = recv_close(ws);
    EXPECT_TRUE(c.has_body);
    EXPECT_EQ(c.code, code);
    EXPECT_EQ(c.reason, reason);
    EXPECT_EQ(ws.wait_eof(), PeerClosed::kFin);
    expect_sessions(0);
  }

  // The backend misbehaves on command; the client gets 1014 and closes.
  void expect_backend_rejected(const std::string& command) {
    WsClient ws = open();
    ws.send_text(command);
    const WireClose c = recv_close(ws);
    EXPECT_EQ(c.code, 1014) << "reason \"" << c.reason << "\"\n" << log();
    ws.close(1000);
    EXPECT_TRUE(ws.try_wait_eof(5s)) << log();
    expect_sessions(0);
  }
};

// Lower-case suite name so `ctest -R 'framing'` selects these tests.
using framing = FramingTest;

// ---------------------------------------------------------------- F1-F3

TEST_F(framing, F1UnmaskedClientFrameGets1002) {
  WsClient direct = be_.open("/");
  ASSERT_TRUE(direct.handshake_ok());
  expect_frame_rejected(RawFrame::of(kText, "naked").unmasked(), 1002);
  direct.send_text("stats");
  EXPECT_EQ(direct.recv_message().payload, R"({"connections":1})") << "backend session still open";
  direct.close(1000);
  direct.expect_close();
  direct.wait_eof();
  EXPECT_NE(log().find("closing it with 1002"), std::string::npos) << log();
}

TEST_F(framing, F2MaskedBackendFrameGivesTheClient1014) {
  const std::size_t closes = backend_closes();
  expect_backend_rejected("send-masked");
  wait_backend_closes(closes + 1);  // the backend itself was sent a close (1002)
}

TEST_F(framing, F12InvalidCloseCodesFromTheBackendNeverReachTheClient) {
  for (const char* cmd : {"close:1006:bad", "close:1005:bad", "close:999:bad", "close:1015:x"}) {
    SCOPED_TRACE(cmd);
    expect_backend_rejected(cmd);
  }
}

// ---------------------------------------------------------------- F4-F8

TEST_F(framing, F4RsvBitsGet1002) {
  for (std::uint8_t rsv : {4, 2, 1}) {
    SCOPED_TRACE("rsv " + std::to_string(rsv));
    expect_frame_rejected(RawFrame::of(kText, "rsv").with_rsv(rsv), 1002);
  }
  SCOPED_TRACE("rsv on a ping");
  expect_frame_rejected(RawFrame::of(kPing, "p").with_rsv(4), 1002);
}

TEST_F(framing, F5ReservedOpcodesGet1002) {
  for (std::uint8_t op : {0x3, 0x7, 0xB, 0xF}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    expect_frame_rejected(RawFrame::of(op, "x"), 1002);
  }
}

TEST_F(framing, F6OversizedOrFragmentedControlFramesGet1002) {
  expect_frame_rejected(RawFrame::of(kPing, std::string(126, 'p')), 1002);
  expect_frame_rejected(RawFrame::of(kPong, std::string(126, 'p')), 1002);
  expect_frame_rejected(RawFrame::of(kClose, close_payload(1000, std::string(124, 'r'))), 1002);
  expect_frame_rejected(RawFrame::of(kPing, "frag").not_final(), 1002);
}

TEST_F(framing, F7ContinuationWithoutStartGets1002) {
  expect_frame_rejected(RawFrame::of(kContinuation, "orphan"), 1002);
}

TEST_F(framing, F7NewDataFrameMidMessageGets1002) {
  expect_client_rejected(
      [](WsClient& ws) {
        ws.send_frame(kText, "first", false);
        ws.send_frame(kText, "second", true);
      },
      1002);
  expect_client_rejected(
      [](WsClient& ws) {
        ws.send_frame(kBinary, "first", false);
        ws.send_frame(kBinary, "second", true);
      },
      1002);
}

TEST_F(framing, F7ControlFramesBetweenFragmentsAreValid) {
  WsClient ws = open();
  ws.send_frame(kText, "one", false);
  ws.ping("mid");
  ws.pong("unsolicited");
  ws.send_frame(kContinuation, "two", true);
  expect_frame(ws, kText, "one", false);
  expect_frame(ws, kPong, "mid");
  expect_frame(ws, kContinuation, "two", true);
  ws.close(1000, "done");
  EXPECT_EQ(recv_close(ws).code, 1000);
  ws.wait_eof();
  expect_sessions(0);
}

TEST_F(framing, F8LengthWithTheTopBitSetGets1002) {
  expect_frame_rejected(RawFrame::of(kBinary).with_length(1ull << 63, LengthForm::k64Bit), 1002);
  expect_frame_rejected(RawFrame::of(kText).with_length(~0ull, LengthForm::k64Bit), 1002);
}

TEST_F(framing, F8NonMinimalLengthEncodingsGet1002) {
  // README: "bad length encodings -> 1002" (RFC 6455 5.2: the minimal number of bytes MUST be used).
  expect_frame_rejected(RawFrame::of(kText, "abc").with_length(3, LengthForm::k16Bit), 1002);
  expect_frame_rejected(RawFrame::of(kText, "abc").with_length(3, LengthForm::k64Bit), 1002);
}

// ---------------------------------------------------------------- F9-F10

TEST_F(framing, F9MessageOverMaxMessageGets1009) {
  expect_client_rejected([](WsClient& ws) { ws.send_binary(std::string(70 * 1024, 'x')); }, 1009);
  expect_client_rejected(
      [](WsClient& ws) {
        ws.send_fragments(kBinary,
                          {std::string(30 * 1024, 'a'), std::string(30 * 1024, 'b'), std::string(30 * 1024, 'c')});
      },
      1009);
  expect_client_rejected([](WsClient& ws) { ws.send_binary(std::string(64 * 1024 + 1, 'x')); }, 1009);
}

TEST_F(framing, F9ExactlyMaxMessagePasses) {
  WsClient ws = open();
  const std::string data(64 * 1024, 'm');
  ws.send_binary(data);
  Message m = ws.recv_message();
  EXPECT_EQ(m.frames, 1u);
  EXPECT_TRUE(m.payload == data);
  ws.send_fragments(kText, {data.substr(0, 16384), data.substr(16384, 16384), data.substr(32768)});
  m = ws.recv_message();
  EXPECT_EQ(m.frames, 3u);
  EXPECT_TRUE(m.payload == data);
  ws.close(1000);
  EXPECT_EQ(recv_close(ws).code, 1000);
  ws.wait_eof();
}

TEST_F(framing, F10MoreThanMaxFragmentsGets1009) {
  expect_client_rejected([](WsClient& ws) { ws.send_fragments(kText, std::vector<std::string>(11, "x")); }, 1009);
  // Endless tiny fragments without FIN stop at the cap too.
  expect_client_rejected(
      [](WsClient& ws) {
        ws.send_frame(kBinary, "", false);
        for (int i = 0; i < 10; ++i) ws.send_frame(kContinuation, "", false);
      },
      1009);
}

TEST_F(framing, F10MaxFragmentsPass) {
  WsClient ws = open();
  ws.send_fragments(kText, std::vector<std::string>(10, "x"));
  const Message m = ws.recv_message();
  EXPECT_EQ(m.frames, 10u);
  EXPECT_EQ(m.payload, std::string(10, 'x'));
  ws.close(1000);
  EXPECT_EQ(recv_close(ws).code, 1000);
  ws.wait_eof();
}

// ---------------------------------------------------------------- F11

TEST_F(framing, F11InvalidUtf8InATextMessageGets1007) {
  expect_client_rejected([](WsClient& ws) { ws.send_text("bad \xff byte"); }, 1007);
  expect_client_rejected([](WsClient& ws) { ws.send_text("overlong \xc0\xaf"); }, 1007);
  expect_client_rejected([](WsClient& ws) { ws.send_text("surrogate \xed\xa0\x80"); }, 1007);
  // Each fragment is a valid prefix; the message ends inside a character.
  expect_client_rejected(
      [](WsClient& ws) {
        ws.send_fragments(kText, {"euro \xe2\x82", "\xac ok \xf0\x9f", "\x98"});
      },
      1007);
  // A sequence started in one fragment and broken in the next.
  expect_client_rejected([](WsClient& ws) { ws.send_fragments(kText, {"x \xe2\x82", "A"}); }, 1007);
}

// A text message that ends inside a character is refused before its end is
// relayed: the backend never gets (and never echoes back) a message it
// would have to refuse itself, so the client's 1007 is the first thing it sees.
TEST_F(framing, F11TextEndingMidCharacterIsRefusedBeforeItIsRelayed) {
  for (const std::vector<std::string>& parts :
       {std::vector<std::string>{"cut \xe2\x82"}, std::vector<std::string>{"whole ", "cut \xf0\x9f\x98"}}) {
    SCOPED_TRACE(parts.back());
    WsClient ws = open();
    ws.send_text("before");
    expect_frame(ws, kText, "before");
    const std::size_t closes = backend_closes();
    ws.send_fragments(kText, parts);
    if (parts.size() > 1) expect_frame(ws, kText, parts.front(), false);  // valid so far: relayed
    const Frame f = ws.recv_frame();
    ASSERT_EQ(f.opcode, kClose) << "the message's end was relayed and echoed: \"" << f.payload << "\"\n" << log();
    const auto body = parse_close_payload(f.payload);
    ASSERT_TRUE(body);
    EXPECT_EQ(body->code, 1007) << log();
    EXPECT_TRUE(ws.try_wait_eof(5s)) << log();
    wait_backend_closes(closes + 1);
    expect_sessions(0);
  }
  EXPECT_EQ(log().find("from backend"), std::string::npos) << "the backend was blamed:\n" << log();
}

TEST_F(framing, F11ValidUtf8SplitAcrossFragmentsPasses) {
  WsClient ws = open();
  ws.send_fragments(kText, {"euro \xe2", "\x82", "\xac emoji \xf0\x9f", "\x98\x80"});
  const Message m = ws.recv_message();
  EXPECT_EQ(m.frames, 4u);
  EXPECT_EQ(m.payload, "euro \xe2\x82\xac emoji \xf0\x9f\x98\x80");
  ws.close(1000);
  EXPECT_EQ(recv_close(ws).code, 1000);
  ws.wait_eof();
}

TEST_F(framing, F11RouteWithoutUtf8ValidationRelaysInvalidText) {
  WsClient ws = open("/raw");
  ws.send_text("bad \xff byte");
  expect_frame(ws, kText, "bad \xff byte");
  ws.send_fragments(kText, {"cut \xe2\x82"});
  expect_frame(ws, kText, "cut \xe2\x82");
  ws.send_fragments(kText, {"x \xe2\x82", "A"});
  const Message m = ws.recv_message();
  EXPECT_EQ(m.payload,
            "x \xe2\x82"
            "A");
  EXPECT_EQ(m.frames, 2u);
  ws.close(1000);
  EXPECT_EQ(recv_close(ws).code, 1000);
  ws.wait_eof();
  expect_sessions(0);
}

TEST_F(framing, F11InvalidUtf8InACloseReasonGets1007) {
  expect_client_rejected([](WsClient& ws) { ws.close(1000, "bad \xff reason"); }, 1007);
  expect_client_rejected([](WsClient& ws) { ws.close(4000, "cut \xe2\x82"); }, 1007);
}

// ---------------------------------------------------------------- F12-F13

TEST_F(framing, F12OneByteCloseBodyGets1002) {
  expect_frame_rejected(RawFrame::of(kClose, std::string(1, '\x03')), 1002);
}

TEST_F(framing, F12InvalidCloseCodesGet1002) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    SCOPED_TRACE("close code " + std::to_string(code));
    expect_client_rejected([code](WsClient& ws) { ws.close(code, "r"); }, 1002);
  }
}

TEST_F(framing, F12ValidCloseCodesAreRelayed) {
  for (std::uint16_t code : {1000, 1001, 1003, 1011, 3000, 4999}) {
    SCOPED_TRACE("close code " + std::to_string(code));
    expect_close_relayed(code, "r");
  }
}

TEST_F(framing, F13CloseWithoutBodyIsRelayedWithoutBody) {
  WsClient ws = open();
  ws.close_without_body();
  const WireClose c = recv_close(ws);
  EXPECT_FALSE(c.has_body) << "code " << c.code;
  ws.wait_eof();
  expect_sessions(0);
}

// ---------------------------------------------------------------- F15

TEST_F(framing, F15PingFloodKeepsMemoryBoundedAndEveryPongIsCorrect) {
  constexpr int kPings = 20000;
  WsClient ws = open();
  ws.send_text("before");
  expect_frame(ws, kText, "before");
  std::string wire;
  for (int i = 0; i < kPings; ++i) wire += build_frame(RawFrame::of(kPing, ping_payload(i)));
  const pid_t master = gw_.process().pid();
  const long before = gateway_rss_kib(master);
  long peak = before;

  // As fast as the socket takes it, never reading, until done or stuck for 2 s.
  std::size_t sent = 0;
  auto send_some = [&] {
    const ssize_t n = ::send(ws.fd(), wire.data() + sent, wire.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<std::size_t>(n);
    return n > 0;
  };
  for (auto stuck_since = Clock::now(); sent < wire.size() && Clock::now() - stuck_since < 2s;) {
    if (send_some()) {
      stuck_since = Clock::now();
    } else {
      pollfd p{ws.fd(), POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
    peak = std::max(peak, gateway_rss_kib(master));
  }
  peak = std::max(peak, gateway_rss_kib(master));
  std::printf("[ INFO     ] wsgate RSS %ld KiB before, peak %ld KiB; %zu of %zu ping bytes sent unread\n", before, peak,
              sent, wire.size());
  EXPECT_LT(peak - before, 64 * 1024) << "wsgate RSS grew from " << before << " KiB to " << peak << " KiB";

  // Now read, sending the rest as the socket takes it.
  int pongs = 0, last = -1;
  bool closed = false;
  const auto deadline = Clock::now() + 60s;
  while (!closed && last < kPings - 1 && Clock::now() < deadline) {
    if (sent < wire.size()) send_some();
    const auto f = ws.try_recv_frame(sent < wire.size() ? 10ms : 5000ms);
    if (!f) continue;
    if (f->opcode == kClose) {
      closed = true;
      const auto body = parse_close_payload(f->payload);
      ASSERT_TRUE(body && !f->payload.empty()) << "a flood may be closed, but with a code";
      EXPECT_TRUE(body->code != 1005 && body->code != 1006 && body->code != 1015) << body->code;
      break;
    }
    ASSERT_EQ(f->opcode, kPong) << "payload " << f->payload;
    ASSERT_EQ(f->payload.size(), 125u);
    const int index = std::atoi(f->payload.substr(0, 6).c_str());
    ASSERT_EQ(f->payload, ping_payload(index)) << "pong " << pongs;
    ASSERT_GT(index, last) << "pongs out of order";
    last = index;
    ++pongs;
  }
  EXPECT_GT(pongs, 0);
  std::printf("[ INFO     ] %d pongs, last for ping %d, %s\n", pongs, last, closed ? "then closed" : "still open");
  if (closed) {
    ws.close(1000);
    EXPECT_TRUE(ws.try_wait_eof(5s)) << log();
  } else {
    EXPECT_EQ(last, kPings - 1) << "the latest ping was never answered (" << pongs << " pongs)";
    ws.send_text("still alive");
    expect_frame(ws, kText, "still alive");
    ws.close(1000);
    EXPECT_EQ(recv_close(ws).code, 1000);
    ws.wait_eof();
  }
  expect_sessions(0);
}

// ---------------------------------------------------------------- F16

TEST_F(framing, F16PermessageDeflateIsNotNegotiatedAndRsv1Gets1002) {
  const std::vector<Header> offer = {{"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"}};
  WsClient ws = open("/chat", offer);
  ASSERT_EQ(ws.status(), 101);
  EXPECT_FALSE(ws.response().header("Sec-WebSocket-Extensions")) << *ws.response().header("Sec-WebSocket-Extensions");
  ws.send_text("headers");
  const std::string forwarded = ws.recv_message().payload;
  EXPECT_EQ(forwarded.find("deflate"), std::string::npos) << "offer reached the backend:\n" << forwarded;

  const std::size_t closes = backend_closes();
  ws.send_raw_frame(RawFrame::of(kText, "\xf2\x48\xcd\xc9\xc9\x07\x00").with_rsv(4));  // "Hello", deflated
  const WireClose c = recv_close(ws);
  EXPECT_EQ(c.code, 1002) << log();
  EXPECT_TRUE(ws.try_wait_eof(5s));
  wait_backend_closes(closes + 1);
  expect_sessions(0);
}

}  // namespace
}  // namespace wsgate::test
