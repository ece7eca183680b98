// The per-pool GCRA limiter on backend handshakes: exactly the rate over a
// window, bursts of max(1, rate/10), pools independent, safe across threads.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "shm/backend_table.h"

namespace wsgate::shm {
namespace {

struct Rate : ::testing::Test {
  std::unique_ptr<Table> storage = std::make_unique<Table>();
  BackendTable table{*storage};
  static constexpr int64_t kStart = 5'000'000'000;  // an arbitrary monotonic time, in us

  // Admissions from `from_us` to `to_us` (exclusive) trying every `step_us`.
  int admitted(uint32_t pool, uint32_t rate, int64_t from_us, int64_t to_us, int64_t step_us) {
    int n = 0;
    for (int64_t t = from_us; t < to_us; t += step_us) {
      n += table.admit_handshake(pool, rate, t) ? 1 : 0;
    }
    return n;
  }
};

TEST_F(Rate, ZeroMeansUnlimited) {
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(table.admit_handshake(0, 0, kStart));
  }
}

TEST_F(Rate, AFreshLimiterAdmitsOneBurstAtOnce) {
  uint32_t p = 0;
  for (uint32_t rate : {1u, 5u, 10u, 100u, 1000u, 1000000u}) {
    ++p;
    const int burst = std::max<int>(1, static_cast<int>(rate / 10));
    int n = 0;
    while (table.admit_handshake(p, rate, kStart)) {
      ++n;
      ASSERT_LE(n, burst + 1) << "rate " << rate;
    }
    EXPECT_EQ(n, burst) << "rate " << rate;
  }
}

TEST_F(Rate, AdmitsExactlyTheRateOverAWindowAfterTheBurst) {
  struct Case {
    uint32_t rate;
    int64_t step_us;
  };
  uint32_t pool = 0;
  // Callers hammering far faster than the rate for 10 s get the burst, then
  // exactly rate per second when the rate divides a second in nanoseconds...
  for (const Case c : {Case{100, 100}, Case{1000, 50}, Case{5, 1000}, Case{250000, 1}}) {
    const int burst = std::max<int>(1, static_cast<int>(c.rate / 10));
    int n = admitted(pool, c.rate, kStart, kStart + 10'000'000, c.step_us);
    EXPECT_NEAR(n, burst + 10 * static_cast<int>(c.rate), 1) << "rate " << c.rate;
    ++pool;
  }
  // ...and otherwise never more, and at most one in a thousand fewer (the
  // emission interval is rounded up to a whole nanosecond).
  for (const Case c : {Case{3, 1000}, Case{300000, 1}, Case{7, 100}}) {
    const int burst = std::max<int>(1, static_cast<int>(c.rate / 10));
    int n = admitted(pool, c.rate, kStart, kStart + 10'000'000, c.step_us);
    int ideal = burst + 10 * static_cast<int>(c.rate);
    EXPECT_LE(n, ideal + 1) << "rate " << c.rate;
    EXPECT_GE(n, ideal - ideal / 1000 - 1) << "rate " << c.rate;
    ++pool;
  }
}

TEST_F(Rate, BurstsAreBoundedAfterIdleTime) {
  const uint32_t rate = 100;  // burst 10
  EXPECT_EQ(admitted(0, rate, kStart, kStart + 1, 1), 1);
  // A long idle spell does not bank more than one burst.
  int64_t later = kStart + 60'000'000;
  int n = 0;
  while (table.admit_handshake(0, rate, later)) {
    ++n;
  }
  EXPECT_EQ(n, 10);
  // And then one per 10 ms.
  EXPECT_FALSE(table.admit_handshake(0, rate, later + 9'999));
  EXPECT_TRUE(table.admit_handshake(0, rate, later + 10'000));
  EXPECT_FALSE(table.admit_handshake(0, rate, later + 10'001));
}

TEST_F(Rate, PoolsAreIndependent) {
  while (table.admit_handshake(0, 10, kStart)) {
  }
  EXPECT_TRUE(table.admit_handshake(1, 10, kStart));
}

TEST_F(Rate, ConcurrentCallersShareOneBudget) {
  const uint32_t rate = 1000;  // burst 100, then 1 per ms
  std::atomic<int> total{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      int n = 0;
      for (int64_t us = 0; us < 1'000'000; us += 10) {
        n += table.admit_handshake(3, rate, kStart + us) ? 1 : 0;
      }
      total.fetch_add(n);
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  // The threads do not run in lockstep, so one may see a later "now" than
  // another; what they admit together never exceeds burst + rate * window.
  EXPECT_LE(total.load(), 100 + 1000 + 1);
  EXPECT_GE(total.load(), 1000);
}

TEST_F(Rate, PoolsAreRegisteredByNameInOrder) {
  table.add_backend("chat", "127.0.0.1:1", 1);
  table.add_backend("echo", "127.0.0.1:2", 1);
  table.add_backend("chat", "127.0.0.1:3", 1);
  EXPECT_EQ(table.pool_count(), 2u);
  EXPECT_STREQ(table.pool(0).name, "chat");
  EXPECT_STREQ(table.pool(1).name, "echo");
  EXPECT_EQ(table.backend(2).pool_index, 0u);
  EXPECT_EQ(table.backend(1).pool_index, 1u);
}

TEST_F(Rate, AtMostSixtyFourPools) {
  for (uint32_t i = 0; i < kMaxPools; ++i) {
    table.add_backend("p" + std::to_string(i), "127.0.0.1:1", 1);
  }
  EXPECT_THROW(table.add_backend("one-more", "127.0.0.1:1", 1), std::length_error);
}

}  // namespace
}  // namespace wsgate::shm
