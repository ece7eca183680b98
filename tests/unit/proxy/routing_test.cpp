#include "worker/proxy/routing.h"

#include <gtest/gtest.h>

#include <map>

namespace wsgate::worker {
namespace {

// Picks `n` sessions in a row, counting each pick as a new live session the
// way the worker does, and returns how many each backend got.
std::vector<int> simulate_least_conn(std::vector<Candidate> c, int n) {
  std::vector<int> got(c.size(), 0);
  uint32_t cursor = 0;
  for (int k = 0; k < n; ++k) {
    auto i = pick_least_conn(c, cursor);
    EXPECT_TRUE(i.has_value());
    ++c[*i].sessions;
    ++got[*i];
  }
  return got;
}

TEST(LeastConn, PicksTheBackendWithFewestSessions) {
  std::vector<Candidate> c{{5, 1, true}, {2, 1, true}, {9, 1, true}};
  uint32_t cursor = 0;
  EXPECT_EQ(pick_least_conn(c, cursor), 1u);
}

TEST(LeastConn, EqualWeightsSpreadEvenly) {
  auto got = simulate_least_conn({{0, 1, true}, {0, 1, true}, {0, 1, true}}, 90);
  EXPECT_EQ(got, (std::vector<int>{30, 30, 30}));
}

TEST(LeastConn, WeightTwoGetsTwiceTheSessions) {
  auto got = simulate_least_conn({{0, 1, true}, {0, 2, true}, {0, 1, true}}, 40);
  EXPECT_EQ(got, (std::vector<int>{10, 20, 10}));
}

TEST(LeastConn, RefillsTheBackendThatLostSessions) {
  auto got = simulate_least_conn({{21, 1, true}, {30, 1, true}, {30, 1, true}}, 9);
  EXPECT_EQ(got, (std::vector<int>{9, 0, 0}));
}

TEST(LeastConn, TiesRotateFromTheCursor) {
  std::vector<Candidate> c{{1, 1, true}, {1, 1, true}, {1, 1, true}};
  uint32_t cursor = 0;
  EXPECT_EQ(pick_least_conn(c, cursor), 0u);
  EXPECT_EQ(pick_least_conn(c, cursor), 1u);
  EXPECT_EQ(pick_least_conn(c, cursor), 2u);
  EXPECT_EQ(pick_least_conn(c, cursor), 0u);
}

TEST(LeastConn, SkipsUnavailableAndZeroWeight) {
  std::vector<Candidate> c{{0, 1, false}, {50, 1, true}, {0, 0, true}};
  uint32_t cursor = 0;
  EXPECT_EQ(pick_least_conn(c, cursor), 1u);
}

TEST(LeastConn, NothingAvailableIsNullopt) {
  std::vector<Candidate> c{{0, 1, false}, {0, 1, false}};
  uint32_t cursor = 0;
  EXPECT_FALSE(pick_least_conn(c, cursor).has_value());
  std::vector<Candidate> none;
  EXPECT_FALSE(pick_least_conn(none, cursor).has_value());
}

TEST(LeastConn, LargeCountsDoNotOverflowTheComparison) {
  std::vector<Candidate> c{{3'000'000'000LL, 1000, true}, {2'999'999'999LL, 1000, true}};
  uint32_t cursor = 0;
  EXPECT_EQ(pick_least_conn(c, cursor), 1u);
}

TEST(RoundRobin, SmoothWeightedOrder) {
  std::vector<Candidate> c{{0, 5, true}, {0, 1, true}, {0, 1, true}};
  std::vector<int64_t> scores;
  std::string order;
  for (int k = 0; k < 7; ++k) {
    order += static_cast<char>('a' + *pick_round_robin(c, scores));
  }
  EXPECT_EQ(order, "aabacaa");  // nginx's documented sequence for weights 5,1,1
}

TEST(RoundRobin, SkipsUnavailable) {
  std::vector<Candidate> c{{0, 1, true}, {0, 1, false}, {0, 1, true}};
  std::vector<int64_t> scores;
  std::map<size_t, int> got;
  for (int k = 0; k < 10; ++k) {
    ++got[*pick_round_robin(c, scores)];
  }
  EXPECT_EQ(got[0], 5);
  EXPECT_EQ(got[1], 0);
  EXPECT_EQ(got[2], 5);
  c[0].available = c[2].available = false;
  EXPECT_FALSE(pick_round_robin(c, scores).has_value());
}

}  // namespace
}  // namespace wsgate::worker
