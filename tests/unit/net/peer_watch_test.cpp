// probe_peer over real loopback TCP connections: what it says of a peer that
// is open, that sent its FIN with unread data still queued, that reset the
// connection, and whether it reads what we send.
#include "worker/net/peer_watch.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace wsgate::worker {
namespace {

// A connected loopback pair: `ours` (the side probed) and `peer`.
struct Pair {
  Pair() {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(l, 1), 0);
    EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
    peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(peer, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ours = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(l);
  }
  ~Pair() {
    ::close(ours);
    if (peer >= 0) {
      ::close(peer);
    }
  }
  // Polls until `pred(probe)` or about a second has passed.
  template <class Pred>
  PeerProbe wait(Pred pred) const {
    PeerProbe p;
    for (int i = 0; i < 100; ++i) {
      p = PeerProbe{};
      EXPECT_TRUE(probe_peer(ours, p));
      if (pred(p)) {
        break;
      }
      ::usleep(10 * 1000);
    }
    return p;
  }
  int ours = -1;
  int peer = -1;
};

TEST(PeerWatch, OpenPeerIsNotHungUp) {
  Pair c;
  PeerProbe p;
  ASSERT_TRUE(probe_peer(c.ours, p));
  EXPECT_FALSE(p.hung_up);
  EXPECT_EQ(p.error, 0);
}

TEST(PeerWatch, FinIsSeenBehindUnreadData) {
  Pair c;
  const std::string data(10000, 'x');
  ASSERT_EQ(::write(c.peer, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::shutdown(c.peer, SHUT_WR);
  const PeerProbe p = c.wait([](const PeerProbe& q) { return q.hung_up; });
  EXPECT_TRUE(p.hung_up) << "the FIN behind 10000 unread bytes";
}

TEST(PeerWatch, ResetIsSeenWithItsError) {
  Pair c;
  linger l{1, 0};
  ::setsockopt(c.peer, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(c.peer);
  c.peer = -1;
  const PeerProbe p = c.wait([](const PeerProbe& q) { return q.hung_up; });
  EXPECT_TRUE(p.hung_up);
  EXPECT_EQ(p.error, ECONNRESET);
}

TEST(PeerWatch, BytesAckedGrowWhileThePeerReads) {
  Pair c;
  PeerProbe before;
  ASSERT_TRUE(probe_peer(c.ours, before));
  const std::string data(5000, 'y');
  ASSERT_EQ(::write(c.ours, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  const PeerProbe after = c.wait([&](const PeerProbe& q) { return q.bytes_acked >= before.bytes_acked + 5000; });
  EXPECT_GE(after.bytes_acked, before.bytes_acked + 5000);
}

TEST(PeerWatch, NotASocketCannotBeAsked) {
  PeerProbe p;
  EXPECT_FALSE(probe_peer(-1, p));
}

}  // namespace
}  // namespace wsgate::worker
