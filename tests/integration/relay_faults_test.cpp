// A side that fails or stalls must not cost the other side anything it was
// owed (issue 15, findings 1, 9, 10), through the real wsgate binary:
// sessions whose paused client left are ended, a stuck backend is dropped
// after the stall limit, a close wsgate sends survives a client still
// writing, and replies the backend sent before wsgate's close reach a client
// that broke the protocol.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/gateway.h"
#include "tests/support/http_head.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A WebSocket backend that answers the upgrade and then never reads again:
// wsgate's output toward it fills, and the client feeding it gets paused.
class MuteBackend {
 public:
  MuteBackend() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw TestIoError("mute backend: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~MuteBackend() {
    stop_ = true;
    thread_.join();
    for (int fd : conns_) ::close(fd);
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int small = 64 * 1024;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      std::string head;
      char c;
      while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) head += c;
      const HttpHead h = parse_head(head);
      const std::string key = h.get("Sec-WebSocket-Key").value_or("");
      const std::string answer =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: " +
          websocket_accept(key) + "\r\n\r\n";
      (void)!::write(fd, answer.data(), answer.size());
      conns_.push_back(fd);  // kept open, never read
    }
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<int> conns_;
};

// Writes binary frames of 16 KiB as fast as the socket takes them, never
// reading, until `budget` bytes went out or nothing moved for `stuck`.
std::size_t flood(WsClient& ws, std::size_t budget, milliseconds stuck) {
  const std::string frame = build_frame(RawFrame::of(kBinary, std::string(16 * 1024, 'f')));
  std::size_t sent = 0, off = 0;
  for (auto since = Clock::now(); sent < budget && Clock::now() - since < stuck;) {
    const ssize_t n = ::send(ws.fd(), frame.data() + off, frame.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      off = (off + static_cast<std::size_t>(n)) % frame.size();
      since = Clock::now();
    } else {
      pollfd p{ws.fd(), POLLOUT, 0};
      ::poll(&p, 1, 20);
    }
  }
  return sent;
}

// Opens `n` clients on `path` and floods each until wsgate stops reading it.
std::vector<WsClient> paused_clients(const Gateway& gw, const std::string& path, int n, milliseconds stuck = 1500ms) {
  std::vector<WsClient> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(gw.open(path));
    EXPECT_TRUE(clients.back().handshake_ok()) << clients.back().handshake_error();
    const std::size_t sent = flood(clients.back(), 64u << 20, stuck);
    EXPECT_LT(sent, 64u << 20) << "wsgate never paused the client";
  }
  return clients;
}

// Finding 1: a client paused because its backend does not read, then reset,
// no longer keeps its session, sockets and buffers (here without keep-alive,
// so the stall limit is 60 s: only the hang-up check can end them this soon).
TEST(relay_faults, PausedClientThatResetsEndsItsSession) {
  MuteBackend be;
  Gateway gw(
      "limits:\n  close_timeout: 2s\n" + pool_yaml("mute", {be.port()}) + "routes:\n  - { path: /m, pool: mute }\n", 1);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<WsClient> clients = paused_clients(gw, "/m", 4);
    Status st = gw.wait_status([](const Status& s) { return s.total_sessions() == 4; });
    ASSERT_EQ(st.total_sessions(), 4);
    for (WsClient& c : clients) {
      linger l{1, 0};  // close() sends a reset
      ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
      c.disconnect();
    }
    st = gw.wait_status([](const Status& s) { return s.total_sessions() == 0; }, 6000ms);
    ASSERT_EQ(st.total_sessions(), 0) << "sessions of paused clients that reset are still open\n"
                                      << gw.process().stderr_text();
  }
}

// Finding 1: a paused client that just leaves (its FIN waits behind the bytes
// wsgate does not read) is let go within the stall limit (ping_interval +
// pong_timeout here): its backend read nothing meanwhile.
TEST(relay_faults, PausedClientThatLeavesEndsItsSessionWithinTheStallLimit) {
  MuteBackend be;
  Gateway gw("limits:\n  close_timeout: 2s\n" +
                 pool_yaml("mute", {be.port()}, "    loss_spread: 0s\n    fail_timeout: 0ms\n") +
                 "routes:\n  - { path: /m, pool: mute, ping_interval: 3s, pong_timeout: 1s }\n",
             1);
  std::vector<WsClient> clients = paused_clients(gw, "/m", 2, 500ms);
  ASSERT_EQ(gw.status().total_sessions(), 2);
  for (WsClient& c : clients) c.disconnect();
  const Status st = gw.wait_status([](const Status& s) { return s.total_sessions() == 0; }, 10000ms);
  EXPECT_EQ(st.total_sessions(), 0) << "sessions of paused clients that left are still open\n"
                                    << gw.process().stderr_text();
}

// Finding 1: a backend that reads nothing while its client waits to send is
// dropped after the stall limit (ping_interval + pong_timeout here), and the
// client is told.
TEST(relay_faults, BackendThatNeverReadsIsDroppedAfterTheStallLimit) {
  MuteBackend be;
  Gateway gw("limits:\n  close_timeout: 2s\n" +
                 pool_yaml("mute", {be.port()}, "    loss_spread: 0s\n    fail_timeout: 0ms\n") +
                 "routes:\n  - { path: /m, pool: mute, ping_interval: 1s, pong_timeout: 500ms }\n",
             1);
  WsClient ws = gw.open("/m");
  ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
  const auto start = Clock::now();
  flood(ws, 32u << 20, 1000ms);
  const CloseInfo c = ws.expect_close(10s);
  EXPECT_EQ(c.code, 1012) << c.reason << "\n" << gw.process().stderr_text();
  EXPECT_LT(Clock::now() - start, 10s);
  const Status st = gw.wait_status([](const Status& s) { return s.total_sessions() == 0; }, 5000ms);
  EXPECT_EQ(st.total_sessions(), 0);
}

// Finding 9: a client that writes its whole (oversized) message before it
// reads is not reset: wsgate shuts its side after the 1009 and reads and
// drops the rest, so the write completes and the 1009 is there to read.
TEST(relay_faults, CloseReachesAClientStillWritingAnOversizedMessage) {
  EchoBackend be{"e"};
  Gateway gw("limits:\n  max_message: 64KiB\n  close_timeout: 3s\n" + pool_yaml("e", {be.port()}) +
                 "routes:\n  - { path: /e, pool: e }\n",
             1);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("run " + std::to_string(i));
    WsClient ws = gw.open("/e");
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    const std::string big = build_frame(RawFrame::of(kBinary, std::string(5u << 20, 'b')));
    std::size_t sent = 0;
    int error = 0;
    for (auto since = Clock::now(); sent < big.size() && Clock::now() - since < 4s;) {
      const ssize_t n = ::send(ws.fd(), big.data() + sent, big.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        since = Clock::now();
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        error = errno;  // a reset: a client that writes before it reads never sees the close
        break;
      } else {
        pollfd p{ws.fd(), POLLOUT, 0};
        ::poll(&p, 1, 20);
      }
    }
    EXPECT_EQ(error, 0) << std::strerror(error) << " after " << sent << " bytes";
    EXPECT_EQ(sent, big.size());
    std::uint16_t code = 0;
    try {
      code = ws.expect_close(5s).code;
    } catch (const TestIoError& e) {
      ADD_FAILURE() << "no close frame: " << e.what();
    }
    EXPECT_EQ(code, 1009);
    EXPECT_TRUE(ws.try_wait_eof(5s));
  }
}

// Finding 9: a frame head that announces more than max_message gets the
// 1009 at once, not when (if ever) its first payload byte arrives.
TEST(relay_faults, HeadAnnouncingTooMuchGets1009BeforeAnyPayload) {
  EchoBackend be{"e"};
  Gateway gw("limits:\n  max_message: 64KiB\n  close_timeout: 3s\n" + pool_yaml("e", {be.port()}) +
                 "routes:\n  - { path: /e, pool: e }\n",
             1);
  for (std::uint64_t announced : {std::uint64_t{100} << 10, std::uint64_t{1} << 40}) {
    WsClient ws = gw.open("/e");
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    ws.send_raw(build_frame(RawFrame::of(kBinary).with_length(announced)));  // the head alone
    EXPECT_EQ(ws.expect_close(3s).code, 1009) << gw.process().stderr_text();
    EXPECT_TRUE(ws.try_wait_eof(5s));
  }
}

// Finding 10: replies the backend sent for the client's valid messages before
// it answered wsgate's close reach a client that then broke the protocol.
TEST(relay_faults, RepliesBeforeTheBackendsCloseReachAnOffendingClient) {
  EchoBackend be{"e"};
  Gateway gw("limits:\n  close_timeout: 3s\n" + pool_yaml("e", {be.port()}) + "routes:\n  - { path: /e, pool: e }\n",
             1);
  for (int i = 0; i < 3; ++i) {
    WsClient ws = gw.open("/e");
    ASSERT_TRUE(ws.handshake_ok()) << ws.handshake_error();
    // In one write: a valid message, then an unmasked frame (F1).
    ws.send_raw(build_frame(RawFrame::of(kText, "question " + std::to_string(i))) +
                build_frame(RawFrame::of(kText, "naked").unmasked()));
    const Frame f = ws.recv_frame();
    EXPECT_EQ(f.opcode, kText) << "the backend's reply was dropped";
    EXPECT_EQ(f.payload, "question " + std::to_string(i));
    EXPECT_EQ(ws.expect_close().code, 1002);
    EXPECT_TRUE(ws.try_wait_eof(5s));
  }
  const Status st = gw.wait_status([](const Status& s) { return s.total_sessions() == 0; });
  EXPECT_EQ(st.total_sessions(), 0);
}

}  // namespace
}  // namespace wsgate::test
