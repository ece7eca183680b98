// Runtime control over the shared table: naming backends, drains (state,
// pace over all workers), fair shares, and a rebalance's budget and end.
#include <gtest/gtest.h>

#include <memory>

#include "shm/backend_control.h"
#include "shm/backend_table.h"
#include "shm/gcra.h"

namespace wsgate::shm {
namespace {

struct Control : ::testing::Test {
  std::unique_ptr<Table> storage = std::make_unique<Table>();
  Table& t = *storage;
  BackendTable bt{t};
  std::string err;

  void SetUp() override {
    bt.set_slot_count(2);
    bt.add_backend("chat", "127.0.0.1:9001", 1);  // 0
    bt.add_backend("chat", "127.0.0.1:9002", 1);  // 1
    bt.add_backend("game", "127.0.0.1:9001", 3);  // 2
    bt.add_backend("game", "127.0.0.1:9003", 1);  // 3
    bt.add_backend("trio", "127.0.0.1:9004", 1);  // 4
    bt.add_backend("trio", "127.0.0.1:9005", 1);  // 5
    bt.add_backend("trio", "127.0.0.1:9006", 1);  // 6
  }
  void sessions(uint32_t backend, int32_t n) { bt.add_session(0, backend, n); }
  // Turns granted from `from_ns` for `span_ns`, asked every `step_ns`.
  template <class Take>
  int turns(Take take, int64_t from_ns, int64_t span_ns, int64_t step_ns) {
    int n = 0;
    for (int64_t now = from_ns; now < from_ns + span_ns; now += step_ns) {
      n += take(now) ? 1 : 0;
    }
    return n;
  }
};

TEST_F(Control, FindsBackendsByPoolAndAddress) {
  EXPECT_EQ(find_backend(t, "chat/127.0.0.1:9002", err), 1u);
  EXPECT_EQ(find_backend(t, "127.0.0.1:9003", err), 3u);
  EXPECT_EQ(find_backend(t, "game/127.0.0.1:9001", err), 2u);
  EXPECT_FALSE(find_backend(t, "127.0.0.1:9001", err));
  EXPECT_NE(err.find("several pools (chat, game)"), std::string::npos) << err;
  EXPECT_FALSE(find_backend(t, "chat/127.0.0.1:9003", err));
  EXPECT_NE(err.find("no backend"), std::string::npos) << err;
}

TEST_F(Control, DrainTakesTheBackendOutOfRoutingAndUndrainBringsItBack) {
  sessions(1, 40);
  const int64_t now = monotonic_ms();
  ASSERT_TRUE(bt.available(1, now));
  ASSERT_TRUE(start_drain(t, 1, 20, err)) << err;
  EXPECT_FALSE(bt.available(1, now));
  DrainProgress d = drain_progress(t, 1);
  EXPECT_TRUE(d.draining);
  EXPECT_EQ(d.rate, 20u);
  EXPECT_EQ(d.initial, 40);
  EXPECT_EQ(d.sessions_left, 40);
  ASSERT_TRUE(cancel_drain(t, 1, err));
  EXPECT_TRUE(bt.available(1, now));
  EXPECT_FALSE(drain_progress(t, 1).draining);
  EXPECT_FALSE(take_drain_turn(t, 1, monotonic_ns())) << "no turns once undrained";
}

TEST_F(Control, DrainRefusesBadArguments) {
  EXPECT_FALSE(start_drain(t, 9, 50, err));
  EXPECT_FALSE(start_drain(t, 1, 0, err));
  EXPECT_FALSE(start_drain(t, 1, kMaxMoveRate + 1, err));
  EXPECT_FALSE(cancel_drain(t, 99, err));
}

TEST_F(Control, DrainPaceIsTheRateOverAllWorkers) {
  ASSERT_TRUE(start_drain(t, 0, 50, err));
  const int64_t start = 1'000'000'000'000;
  // Two "workers" asking every 100 ms at different phases, for 10 s.
  int granted = 0;
  for (int64_t ms = 0; ms < 10000; ms += 50) {
    while (take_drain_turn(t, 0, start + ms * 1'000'000)) {
      ++granted;
    }
  }
  EXPECT_GE(granted, 500);
  EXPECT_LE(granted, 500 + 6) << "a burst of one 100 ms tick at most";
}

// Workers poll every 100 ms: whatever the rate, no credit may be lost
// between two polls (a tolerance under one tick paced 25/s at 20/s).
TEST_F(Control, PaceHoldsForRatesThatDoNotDivideATick) {
  for (uint32_t rate : {1u, 7u, 25u, 30u, 333u}) {
    ASSERT_TRUE(start_drain(t, 0, rate, err));
    const int64_t start = 2'000'000'000'000;
    int granted = 0;
    for (int64_t ms = 0; ms < 10000; ms += 100) {  // one worker, one poll a tick
      while (take_drain_turn(t, 0, start + ms * 1'000'000)) {
        ++granted;
      }
    }
    EXPECT_GE(granted, static_cast<int>(rate * 10 * 0.98)) << rate << "/s";
    EXPECT_LE(granted, static_cast<int>(rate * 10 + rate / 10 + 2)) << rate << "/s";
  }
}

TEST_F(Control, FairSharesFollowWeights) {
  sessions(2, 30);  // game: weights 3 and 1, 40 sessions: fair 30 and 10
  sessions(3, 10);
  std::vector<Share> s = pool_shares(t, 1, monotonic_ms());
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s[0].fair, 30);
  EXPECT_DOUBLE_EQ(s[1].fair, 10);
  EXPECT_EQ(s[0].excess, 0);
  EXPECT_EQ(s[1].excess, 0);
  sessions(3, 10);  // 30/20: fair 37.5 and 12.5; 20 > ceil(13.75)
  s = pool_shares(t, 1, monotonic_ms());
  EXPECT_EQ(s[1].excess, 6);
  EXPECT_EQ(s[0].deficit, 3) << "30 < floor(37.5 * 0.9) = 33";
  EXPECT_FALSE(balanced(s));
}

// Two over, one under: moving each over-loaded one down to the top of the
// band would leave the third below it; the rebalance goes on until the
// under-loaded one is within 10% too.
TEST_F(Control, AnUnderLoadedBackendIsBroughtIntoTheBandToo) {
  sessions(4, 37);  // fair 33.3: band 30..37
  sessions(5, 37);
  sessions(6, 26);
  std::vector<Share> s = pool_shares(t, 2, monotonic_ms());
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].excess, 0);
  EXPECT_EQ(s[2].deficit, 4);
  EXPECT_FALSE(balanced(s));
  EXPECT_EQ(to_move(s[0], s), 3) << "its surplus over ceil(33.3)";
  EXPECT_EQ(to_move(s[2], s), 0);
  ASSERT_TRUE(start_rebalance(t, 50, err));
  EXPECT_EQ(rebalance_progress(t).planned, 4 + 4) << "above floor(33.3) on each";
  sessions(4, -2);
  sessions(5, -2);
  sessions(6, 4);  // 35/35/30
  EXPECT_TRUE(balanced(pool_shares(t, 2, monotonic_ms())));
  EXPECT_FALSE(settle_rebalance(t, monotonic_ms()));
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::done);
}

TEST_F(Control, ADrainingBackendIsLeftOutOfFairShares) {
  sessions(0, 10);
  sessions(1, 30);
  ASSERT_TRUE(start_drain(t, 1, 50, err));
  std::vector<Share> s = pool_shares(t, 0, monotonic_ms());
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].backend, 0u);
  EXPECT_EQ(s[0].excess, 0);
}

TEST_F(Control, RebalanceWithNothingOverLoadedIsDoneAtOnce) {
  sessions(0, 10);
  sessions(1, 11);
  ASSERT_TRUE(start_rebalance(t, 50, err)) << err;
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::done);
  EXPECT_FALSE(take_rebalance_turn(t, 0, monotonic_ns()));
}

TEST_F(Control, RebalanceMovesTheExcessAndNoMore) {
  sessions(0, 100);  // chat: 100 and 0 -> fair 50 each
  ASSERT_TRUE(start_rebalance(t, 1000, err)) << err;
  RebalanceProgress p = rebalance_progress(t);
  EXPECT_EQ(p.state, RebalanceState::running);
  EXPECT_EQ(p.planned, 50);
  int granted =
      turns([&](int64_t now) { return take_rebalance_turn(t, 0, now); }, 5'000'000'000'000, 10'000'000'000, 1'000'000);
  EXPECT_EQ(granted, 50) << "the pool's budget";
  EXPECT_FALSE(take_rebalance_turn(t, 1, monotonic_ns())) << "pool game had nothing to move";
  EXPECT_TRUE(settle_rebalance(t, monotonic_ms()) == false);
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::done) << "budget spent";
}

TEST_F(Control, RebalanceEndsWhenBalanced) {
  sessions(0, 100);
  ASSERT_TRUE(start_rebalance(t, 50, err));
  EXPECT_TRUE(settle_rebalance(t, monotonic_ms()));
  // The clients came back on the other backend.
  sessions(0, -45);
  sessions(1, 45);
  EXPECT_FALSE(settle_rebalance(t, monotonic_ms()));
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::done);
}

TEST_F(Control, RebalanceCanBeCancelledAndExpires) {
  sessions(0, 100);
  ASSERT_TRUE(start_rebalance(t, 50, err));
  ASSERT_TRUE(cancel_rebalance(t, err));
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::cancelled);
  EXPECT_FALSE(cancel_rebalance(t, err));
  ASSERT_TRUE(start_rebalance(t, 50, err));
  EXPECT_FALSE(settle_rebalance(t, monotonic_ms() + 24 * 3600 * 1000));
  EXPECT_EQ(rebalance_progress(t).state, RebalanceState::expired);
}

}  // namespace
}  // namespace wsgate::shm
