#include "worker/net/graveyard.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <memory>

#include "worker/net/event_loop.h"

namespace wsgate::worker {
namespace {

// Counts its destruction; may bury another one from its destructor.
struct Mortal {
  explicit Mortal(int& deaths, Graveyard* bury_on_death = nullptr) : deaths_(deaths), yard_(bury_on_death) {}
  ~Mortal() {
    ++deaths_;
    if (yard_ != nullptr) {
      yard_->bury(std::make_unique<Mortal>(deaths_));
    }
  }
  int& deaths_;
  Graveyard* yard_;
};

TEST(Graveyard, DestroysOnTheNextLoopTurnNotAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  int deaths = 0;
  int burials = 0;
  {
    Graveyard yard;
    ASSERT_EQ(yard.start(loop.get(), [&] { ++burials; }), 0);
    yard.bury(std::make_unique<Mortal>(deaths));
    yard.bury(std::make_unique<Mortal>(deaths));
    EXPECT_EQ(deaths, 0);
    EXPECT_EQ(yard.size(), 2u);
    uv_run(loop.get(), UV_RUN_NOWAIT);
    EXPECT_EQ(deaths, 2);
    EXPECT_EQ(yard.size(), 0u);
    EXPECT_EQ(burials, 1);
    // Nothing buried: the idle handle stopped, so the loop has nothing to do.
    EXPECT_EQ(uv_run(loop.get(), UV_RUN_NOWAIT), 0);
    EXPECT_EQ(burials, 1);
  }
}

TEST(Graveyard, ABurialDuringBurialWaitsForTheNextTurn) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  int deaths = 0;
  Graveyard yard;
  ASSERT_EQ(yard.start(loop.get()), 0);
  yard.bury(std::make_unique<Mortal>(deaths, &yard));
  uv_run(loop.get(), UV_RUN_NOWAIT);
  EXPECT_EQ(deaths, 1);
  EXPECT_EQ(yard.size(), 1u);
  uv_run(loop.get(), UV_RUN_NOWAIT);
  EXPECT_EQ(deaths, 2);
  EXPECT_EQ(yard.size(), 0u);
  yard.close();
}

TEST(Graveyard, ClearAndCloseDestroyAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.init());
  int deaths = 0;
  Graveyard yard;
  ASSERT_EQ(yard.start(loop.get()), 0);
  yard.bury(std::make_unique<Mortal>(deaths));
  yard.clear();
  EXPECT_EQ(deaths, 1);
  yard.bury(std::make_unique<Mortal>(deaths));
  yard.close();
  EXPECT_EQ(deaths, 2);
  // After close() a burial waits for the destructor: the loop has no handle left.
  yard.bury(std::make_unique<Mortal>(deaths));
  EXPECT_EQ(uv_run(loop.get(), UV_RUN_NOWAIT), 0);
  EXPECT_EQ(deaths, 2);
}

TEST(Graveyard, WithoutStartTheDestructorBuries) {
  int deaths = 0;
  {
    Graveyard yard;
    yard.bury(std::make_unique<Mortal>(deaths));
    yard.bury(std::unique_ptr<Mortal>());  // nothing to bury
    EXPECT_EQ(yard.size(), 1u);
    EXPECT_EQ(deaths, 0);
  }
  EXPECT_EQ(deaths, 1);
}

}  // namespace
}  // namespace wsgate::worker
