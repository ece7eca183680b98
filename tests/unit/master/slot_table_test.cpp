#include "master/slot_table.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <utility>
#include <vector>

#include "shm/backend_table.h"

namespace wsgate::master {
namespace {

using shm::SlotRole;

// A table over a heap Table, its signals recorded instead of sent: these
// tests never fork and never signal a real process.
struct SlotTableTest : ::testing::Test {
  std::unique_ptr<shm::Table> shared = std::make_unique<shm::Table>();
  std::vector<std::pair<pid_t, int>> sent;
  SlotTable slots{*shared, [this](pid_t pid, int signum) { sent.emplace_back(pid, signum); }};

  uint32_t published_count() const { return shared->header.slot_count.load(); }
  uint32_t running(SlotRole role, pid_t pid, int64_t now = 0) {
    const uint32_t s = *slots.take(role);
    slots.started(s, pid, now);
    return s;
  }
};

TEST_F(SlotTableTest, TakeGivesTheLowestFreeSlotAndPublishesTheCount) {
  EXPECT_EQ(slots.size(), shm::kMaxSlots);
  EXPECT_EQ(slots.free_count(), shm::kMaxSlots);
  EXPECT_EQ(*slots.take(SlotRole::proxy), 0u);
  EXPECT_EQ(*slots.take(SlotRole::prober), 1u);
  EXPECT_EQ(slots[1].role, SlotRole::prober);
  EXPECT_EQ(published_count(), 2u);
  EXPECT_EQ(slots.free_count(), shm::kMaxSlots - 2);
  EXPECT_EQ(slots.label(0), "worker 0");
  EXPECT_EQ(slots.label(1), "prober 1");
  EXPECT_EQ(slots.label(2), "slot 2");
}

TEST_F(SlotTableTest, TakeFailsWhenEverySlotIsTaken) {
  for (uint32_t i = 0; i < shm::kMaxSlots; ++i) {
    ASSERT_TRUE(slots.take(SlotRole::proxy).has_value());
  }
  EXPECT_FALSE(slots.take(SlotRole::feeder).has_value());
}

TEST_F(SlotTableTest, FreeReleasesTheSlotAndLowersTheCount) {
  slots.take(SlotRole::proxy);
  const uint32_t last = *slots.take(SlotRole::feeder);
  slots[last].generation = 4;
  shm::BackendTable(*shared).claim_slot(last, 1234, SlotRole::feeder, 4);
  slots.free(last);
  EXPECT_TRUE(slots[last].is_free());
  EXPECT_EQ(slots[last].generation, 0u);
  EXPECT_EQ(published_count(), 1u);
  EXPECT_EQ(shared->slots[last].pid.load(), 0);
  EXPECT_EQ(shared->slots[last].role.load(), static_cast<uint32_t>(SlotRole::none));
  EXPECT_EQ(*slots.take(SlotRole::admin), last);  // reusable at once
}

TEST_F(SlotTableTest, RetiringALiveProcessSignalsItAndKeepsTheSlotUntilItExits) {
  const uint32_t s = running(SlotRole::prober, 4242);
  slots.retire(s);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0], std::make_pair(pid_t{4242}, SIGTERM));
  EXPECT_TRUE(slots[s].retire);
  EXPECT_FALSE(slots[s].is_free());
  EXPECT_FALSE(slots.find_current(SlotRole::prober).has_value());  // a new prober may be taken meanwhile
}

TEST_F(SlotTableTest, RetiringASlotWithoutAProcessFreesItNow) {
  const uint32_t s = *slots.take(SlotRole::feeder);
  slots.retire(s);
  EXPECT_TRUE(sent.empty());
  EXPECT_TRUE(slots[s].is_free());
}

TEST_F(SlotTableTest, RestartSignalsOnlyALiveProcessAndIsConsumedByTheRefill) {
  const uint32_t idle = *slots.take(SlotRole::admin);
  slots.restart(idle);
  EXPECT_TRUE(sent.empty());
  EXPECT_FALSE(slots[idle].restart);
  const uint32_t s = running(SlotRole::prober, 77, 0);
  slots.restart(s);
  EXPECT_EQ(sent.back(), std::make_pair(pid_t{77}, SIGTERM));
  slots.exited(s);
  EXPECT_EQ(slots.refill(s, false, 10), Refill::restart);
  EXPECT_FALSE(slots[s].restart);
  EXPECT_EQ(shared->slots[s].respawns.load(), 0u);  // a restart is no respawn
}

TEST_F(SlotTableTest, FindsSlotsByPid) {
  running(SlotRole::proxy, 100);
  const uint32_t s = running(SlotRole::proxy, 200);
  EXPECT_EQ(slots.find_pid(200), s);
  EXPECT_FALSE(slots.find_pid(300).has_value());
  EXPECT_FALSE(slots.find_pid(0).has_value());  // free slots have pid 0
  EXPECT_TRUE(slots.any_alive(SlotRole::proxy));
  EXPECT_FALSE(slots.any_alive(SlotRole::feeder));
}

TEST_F(SlotTableTest, ExitForgetsThePidAndZeroesTheSharedRow) {
  const uint32_t s = running(SlotRole::proxy, 100);
  shm::BackendTable(*shared).claim_slot(s, 100, SlotRole::proxy, 1);
  shm::BackendTable(*shared).add_connection(s, 3);
  slots.exited(s);
  EXPECT_FALSE(slots[s].alive());
  EXPECT_FALSE(slots.any_alive());
  EXPECT_EQ(shared->slots[s].pid.load(), 0);
  EXPECT_EQ(shared->slots[s].connections.load(), 0u);
  EXPECT_EQ(slots[s].role, SlotRole::proxy);  // still its slot: it is to be refilled
}

TEST_F(SlotTableTest, ASlowDeathIsRespawnedAtOnceAndCounted) {
  const uint32_t s = running(SlotRole::proxy, 100, 0);
  slots.exited(s);
  EXPECT_EQ(slots.refill(s, false, SlotTable::kQuickDeathMs + 5), Refill::now);
  EXPECT_EQ(slots[s].quick_deaths, 0);
  EXPECT_EQ(shared->slots[s].respawns.load(), 1u);
}

TEST_F(SlotTableTest, QuickDeathsInARowThrottleTheRespawn) {
  const uint32_t s = running(SlotRole::feeder, 100, 0);
  int64_t now = 0;
  for (int i = 1; i < SlotTable::kQuickDeathsBeforeThrottle; ++i) {
    slots.exited(s);
    now += 10;
    EXPECT_EQ(slots.refill(s, false, now), Refill::now) << i;
    slots.started(s, 100 + i, now);
  }
  slots.exited(s);
  now += 10;
  EXPECT_EQ(slots.refill(s, false, now), Refill::throttled);
  EXPECT_EQ(slots[s].quick_deaths, SlotTable::kQuickDeathsBeforeThrottle);
  EXPECT_EQ(slots[s].respawn_at_ms, now + SlotTable::kThrottleMs);
  EXPECT_TRUE(slots.due(now + SlotTable::kThrottleMs - 1).empty());
  EXPECT_EQ(slots.due(now + SlotTable::kThrottleMs), std::vector<uint32_t>{s});
  slots.started(s, 500, now + SlotTable::kThrottleMs);
  EXPECT_EQ(slots[s].respawn_at_ms, 0);
  EXPECT_TRUE(slots.due(now + 10 * SlotTable::kThrottleMs).empty());
  // A process that then lives past a second starts the count again.
  slots.exited(s);
  EXPECT_EQ(slots.refill(s, false, now + SlotTable::kThrottleMs + SlotTable::kQuickDeathMs), Refill::now);
  EXPECT_EQ(slots[s].quick_deaths, 0);
}

TEST_F(SlotTableTest, AFatalExitIsNotRespawned) {
  const uint32_t s = running(SlotRole::prober, 100, 0);
  slots.exited(s);
  EXPECT_EQ(slots.refill(s, true, 5), Refill::fatal);
  EXPECT_TRUE(slots[s].fatal);
  EXPECT_EQ(slots[s].respawn_at_ms, 0);
  EXPECT_TRUE(slots.due(1'000'000).empty());
  EXPECT_EQ(shared->slots[s].respawns.load(), 0u);
}

TEST_F(SlotTableTest, AFailedForkIsRetriedLater) {
  const uint32_t s = *slots.take(SlotRole::admin);
  slots.fork_failed(s, 50);
  EXPECT_TRUE(slots.due(50 + SlotTable::kThrottleMs - 1).empty());
  EXPECT_EQ(slots.due(50 + SlotTable::kThrottleMs), std::vector<uint32_t>{s});
}

TEST_F(SlotTableTest, SignalsReachOnlyLiveProcesses) {
  running(SlotRole::proxy, 100);
  slots.take(SlotRole::prober);
  running(SlotRole::admin, 300);
  EXPECT_FALSE(slots.signal(1, SIGTERM));
  slots.signal_all(SIGUSR1);
  EXPECT_EQ(sent, (std::vector<std::pair<pid_t, int>>{{100, SIGUSR1}, {300, SIGUSR1}}));
}

}  // namespace
}  // namespace wsgate::master
