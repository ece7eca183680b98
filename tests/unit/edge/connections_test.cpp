// The worker's one registry of connections: a retired one is handed back
// whole (for the graveyard), never destroyed by the registry itself.
#include "worker/edge/connections.h"

#include <gtest/gtest.h>

#include <memory>

namespace wsgate::worker {
namespace {

struct FakeConn final : Connection {
  explicit FakeConn(int* destroyed) : destroyed_(destroyed) {}
  ~FakeConn() override { ++*destroyed_; }
  void shut_down() override { ++shut_downs; }
  void on_conn_read(TcpConn&, const uint8_t*, size_t) override {}
  void on_conn_eof(TcpConn&) override {}
  void on_conn_error(TcpConn&, int, const char*) override {}
  void on_conn_flushed(TcpConn&) override {}
  int shut_downs = 0;

 private:
  int* destroyed_;
};

TEST(Connections, CountsEachKindAndListsTheLiveOnes) {
  int destroyed = 0;
  Connections conns;
  Connection& a = conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::session);
  Connection& b = conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::subscriber);
  conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::session);
  EXPECT_EQ(conns.size(), 3u);
  EXPECT_EQ(conns.count(Connections::Kind::session), 2u);
  EXPECT_EQ(conns.count(Connections::Kind::subscriber), 1u);
  EXPECT_TRUE(conns.contains(&a));
  EXPECT_TRUE(conns.contains(&b));
  for (Connection* c : conns.list()) {
    c->shut_down();
  }
  EXPECT_EQ(static_cast<FakeConn&>(a).shut_downs, 1);
  EXPECT_EQ(static_cast<FakeConn&>(b).shut_downs, 1);
  EXPECT_EQ(destroyed, 0);
}

TEST(Connections, RetireHandsTheConnectionBackOnce) {
  int destroyed = 0;
  Connections conns;
  Connection& a = conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::session);
  std::unique_ptr<Connection> gone = conns.retire(a);
  EXPECT_EQ(gone.get(), &a);
  EXPECT_EQ(conns.retire(a), nullptr) << "retired once";
  EXPECT_FALSE(conns.contains(&a));
  EXPECT_TRUE(conns.empty());
  EXPECT_EQ(destroyed, 0) << "it may still be inside its own callback";
  gone.reset();
  EXPECT_EQ(destroyed, 1);
}

TEST(Connections, ClearDestroysTheLiveOnes) {
  int destroyed = 0;
  {
    Connections conns;
    conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::session);
    Connection& b = conns.add(std::make_unique<FakeConn>(&destroyed), Connections::Kind::subscriber);
    std::unique_ptr<Connection> gone = conns.retire(b);
    conns.clear();
    EXPECT_EQ(destroyed, 1) << "only the live one";
    EXPECT_TRUE(conns.empty());
  }
  EXPECT_EQ(destroyed, 2);
}

}  // namespace
}  // namespace wsgate::worker
