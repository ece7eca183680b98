// A side that fails must not cost the other side anything it was owed
// (issue 15, findings 9, 10), through the real wsgate binary: a close wsgate
// sends survives a client still writing, and replies the backend sent before
// wsgate's close reach a client that broke the protocol.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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
  Gateway gw("limits:\n  close_timeout: 3s\n" + pool_yaml("e", {be.port()}) + "routes:\n  - { path: /e, pool: e }\n", 1);
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
