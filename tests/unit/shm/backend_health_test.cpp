// Health in the shared table: active checks (rise/fall), passive failures
// with and without checks, transition counting, and the last-error seqlock.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shm/backend_table.h"

namespace wsgate::shm {
namespace {

struct Health : ::testing::Test {
  std::unique_ptr<Table> storage = std::make_unique<Table>();
  BackendTable table{*storage};
  uint32_t checked = table.add_backend("chat", "127.0.0.1:9001", 1, HealthPolicy{2, 2});
  uint32_t passive = table.add_backend("chat", "127.0.0.1:9002", 1);

  const BackendEntry& entry(uint32_t b) const { return table.backend(b); }
  Transition ok(int64_t now, int64_t rtt = 500) { return table.record_check(checked, {true, rtt, {}}, now); }
  Transition fail(int64_t now, std::string_view why = "no pong within 1000 ms") {
    return table.record_check(checked, {false, 0, why}, now);
  }
};

TEST_F(Health, StartsUpWithNoCheckYet) {
  EXPECT_EQ(table.health(checked), BackendState::up);
  EXPECT_TRUE(table.available(checked, 0));
  EXPECT_EQ(entry(checked).rtt_us.load(), -1);
  EXPECT_EQ(entry(checked).last_check_ms.load(), 0);
  EXPECT_EQ(entry(checked).up_since_ms.load(), 0);
  EXPECT_EQ(entry(checked).state_changes.load(), 0u);
  EXPECT_EQ(table.last_error(checked), "");
  EXPECT_EQ(entry(checked).fall, 2u);
  EXPECT_EQ(entry(checked).rise, 2u);
  EXPECT_EQ(entry(passive).fall, 0u);
}

TEST_F(Health, FallFailedChecksTakeItDownOnceAndRiseGoodOnesBringItBack) {
  EXPECT_EQ(ok(1000, 750), Transition::none);
  EXPECT_EQ(entry(checked).rtt_us.load(), 750);
  EXPECT_EQ(entry(checked).consecutive_ok.load(), 1u);

  EXPECT_EQ(fail(2000, "connect() failed (111: Connection refused)"), Transition::none);
  EXPECT_TRUE(table.available(checked, 2000));
  EXPECT_EQ(entry(checked).consecutive_ok.load(), 0u);
  EXPECT_EQ(fail(3000), Transition::went_down);
  EXPECT_FALSE(table.available(checked, 3000));
  EXPECT_EQ(table.health(checked), BackendState::down);
  EXPECT_EQ(entry(checked).state_changes.load(), 1u);
  EXPECT_EQ(table.last_error(checked), "no pong within 1000 ms");
  EXPECT_EQ(entry(checked).last_check_ms.load(), 3000);
  EXPECT_EQ(fail(4000), Transition::none);  // already down: not counted again
  EXPECT_EQ(entry(checked).state_changes.load(), 1u);
  EXPECT_EQ(entry(checked).consecutive_failures.load(), 3u);

  EXPECT_EQ(ok(5000), Transition::none);
  EXPECT_FALSE(table.available(checked, 5000));
  EXPECT_EQ(entry(checked).consecutive_failures.load(), 0u);
  EXPECT_EQ(ok(6000, 321), Transition::went_up);
  EXPECT_TRUE(table.available(checked, 6000));
  EXPECT_EQ(entry(checked).state_changes.load(), 2u);
  EXPECT_EQ(entry(checked).up_since_ms.load(), 6000);
  EXPECT_EQ(entry(checked).rtt_us.load(), 321);
  EXPECT_EQ(ok(7000), Transition::none);
  EXPECT_EQ(entry(checked).up_since_ms.load(), 6000);
  // The last error stays as history until another one replaces it.
  EXPECT_EQ(table.last_error(checked), "no pong within 1000 ms");
}

TEST_F(Health, AGoodCheckBetweenFailuresResetsTheCount) {
  fail(1);
  ok(2);
  fail(3);
  EXPECT_TRUE(table.available(checked, 3));
  EXPECT_EQ(fail(4), Transition::went_down);
}

TEST_F(Health, RiseAndFallOfOne) {
  uint32_t b = table.add_backend("p", "127.0.0.1:1", 1, HealthPolicy{1, 1});
  EXPECT_EQ(table.record_check(b, {false, 0, "x"}, 1), Transition::went_down);
  EXPECT_EQ(table.record_check(b, {true, 1, {}}, 2), Transition::went_up);
  EXPECT_EQ(table.backend(b).state_changes.load(), 2u);
}

TEST_F(Health, PassiveFailuresCountTowardFallAndIgnoreFailTimeout) {
  EXPECT_FALSE(table.record_failure(checked, 1000, 10000, "connect() failed (111: Connection refused)"));
  EXPECT_TRUE(table.available(checked, 1000)) << "fail_timeout must not apply with active checks";
  EXPECT_EQ(table.down_for_ms(checked, 1000), 0);
  EXPECT_TRUE(table.record_failure(checked, 1001, 10000));
  EXPECT_FALSE(table.available(checked, 1001));
  EXPECT_FALSE(table.available(checked, 1000000)) << "only the prober brings it back";
  EXPECT_EQ(table.last_error(checked), "2 failed dials or upgrades in a row");
  EXPECT_EQ(entry(checked).failures_total.load(), 2u);
  EXPECT_EQ(entry(checked).state_changes.load(), 1u);
  EXPECT_FALSE(table.record_failure(checked, 1002, 10000, "answered the upgrade with 503"));
  EXPECT_EQ(table.last_error(checked), "answered the upgrade with 503");
  ok(2000);
  EXPECT_EQ(ok(3000), Transition::went_up);
  EXPECT_TRUE(table.available(checked, 3000));
}

TEST_F(Health, PassiveFailureResetsTheGoodCheckStreak) {
  table.record_failure(checked, 1, 0);
  table.record_failure(checked, 2, 0);
  ok(3);
  table.record_failure(checked, 4, 0, "reset");
  EXPECT_EQ(entry(checked).consecutive_ok.load(), 0u);
  EXPECT_EQ(ok(5), Transition::none);
  EXPECT_EQ(ok(6), Transition::went_up);
}

TEST_F(Health, WithoutChecksAPassiveFailureKeepsTheFailTimeoutBehaviour) {
  EXPECT_FALSE(table.record_failure(passive, 1000, 500, "connect() failed (111: Connection refused)"));
  EXPECT_FALSE(table.available(passive, 1499));
  EXPECT_TRUE(table.available(passive, 1500));
  EXPECT_EQ(table.health(passive), BackendState::up);
  EXPECT_EQ(table.last_error(passive), "connect() failed (111: Connection refused)");
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(table.record_failure(passive, 2000, 0));
  }
  EXPECT_EQ(table.health(passive), BackendState::up);
  EXPECT_EQ(entry(passive).state_changes.load(), 0u);
}

TEST_F(Health, RacingWorkersCountOneTransition) {
  uint32_t b = table.add_backend("p", "127.0.0.1:2", 1, HealthPolicy{2, 3});
  std::atomic<int> took_down{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (table.record_failure(b, i, 0, "reading failed (104: Connection reset by peer)")) {
          took_down.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(took_down.load(), 1);
  EXPECT_EQ(table.backend(b).state_changes.load(), 1u);
  EXPECT_EQ(table.backend(b).failures_total.load(), 4000u);
}

TEST_F(Health, AdministrativeDrainingIsIndependentOfHealth) {
  storage->backends[checked].admin_state.store(static_cast<uint32_t>(BackendState::draining));
  EXPECT_FALSE(table.available(checked, 0));
  EXPECT_EQ(table.health(checked), BackendState::up);
}

// ------------------------------------------------------------ last error

TEST_F(Health, LastErrorIsCutAndMadePrintable) {
  table.set_last_error(checked, std::string(200, 'x'));
  EXPECT_EQ(table.last_error(checked), std::string(95, 'x'));
  table.set_last_error(checked, "answered 503 \"Bad\\\r\n\x01\xff");
  EXPECT_EQ(table.last_error(checked), "answered 503 \"Bad\\????");
  table.set_last_error(checked, "");
  EXPECT_EQ(table.last_error(checked), "");
}

TEST_F(Health, AWriterNeverWaitsForAnotherOne) {
  storage->backends[checked].error_seq.store(7);  // a writer is (or died) inside its copy
  EXPECT_FALSE(table.set_last_error(checked, "dropped"));
  EXPECT_EQ(table.last_error(checked), "") << "a reader must give up, not spin forever";
  storage->backends[checked].error_seq.store(8);
  EXPECT_TRUE(table.set_last_error(checked, "kept"));
  EXPECT_EQ(table.last_error(checked), "kept");
  EXPECT_EQ(storage->backends[checked].error_seq.load(), 10u);
}

TEST_F(Health, ReadersNeverSeeATornText) {
  // Two writers alternate texts of different letters and lengths; every
  // text a reader gets must be one of them, whole.
  const std::string a(95, 'a'), b(40, 'b');
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (const std::string* text : {&a, &b}) {
    writers.emplace_back([&, text] {
      while (!stop.load()) {
        table.set_last_error(checked, *text);
        std::this_thread::yield();  // on a loaded machine, let the reader run too
      }
    });
  }
  long reads = 0, whole = 0, torn = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    std::string got = table.last_error(checked);
    ++reads;
    if (got == a || got == b) {
      ++whole;
    } else if (!got.empty()) {
      ++torn;
    }
  }
  stop.store(true);
  for (auto& w : writers) {
    w.join();
  }
  EXPECT_EQ(torn, 0) << "of " << reads << " reads";
  // An empty answer means "gave up"; some reads must get through.
  EXPECT_GT(whole, 0) << "of " << reads << " reads";
}

}  // namespace
}  // namespace wsgate::shm
