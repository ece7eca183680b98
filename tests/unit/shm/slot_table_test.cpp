#include "shm/slot_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

#include "shm/clock.h"
#include "shm/session_counts.h"

namespace wsgate::shm {
namespace {

class SlotTableTest : public ::testing::Test {
 protected:
  std::unique_ptr<Table> table_ = std::make_unique<Table>();
  SlotTable slots_{*table_};
  SessionCounts sessions_{*table_};
};

TEST_F(SlotTableTest, AClaimNamesTheProcessRoleAndGeneration) {
  slots_.set_count(3);
  EXPECT_EQ(slots_.count(), 3u);
  slots_.claim(2, 4242, SlotRole::feeder, 5);
  EXPECT_EQ(slots_.slot(2).pid.load(), 4242);
  EXPECT_EQ(slots_.slot(2).role.load(), static_cast<uint32_t>(SlotRole::feeder));
  EXPECT_EQ(slots_.slot(2).generation.load(), 5u);
  EXPECT_EQ(slots_.slot(1).pid.load(), 0);
}

TEST_F(SlotTableTest, ClearDropsWhatDiedWithTheProcessAndKeepsTheRest) {
  slots_.set_count(2);
  slots_.claim(0, 100, SlotRole::proxy, 1);
  slots_.claim(1, 101, SlotRole::proxy, 1);
  slots_.add_connection(0, 3);
  sessions_.add(0, 4, 2);
  sessions_.add(1, 4, 5);
  slots_.metrics_row(0).sessions_closed.fetch_add(7);
  slots_.note_respawn(0);
  slots_.clear(0);
  EXPECT_EQ(slots_.slot(0).pid.load(), 0);
  EXPECT_EQ(slots_.slot(0).connections.load(), 0u);
  EXPECT_EQ(slots_.slot(0).role.load(), static_cast<uint32_t>(SlotRole::proxy));  // the slot is still its role's
  EXPECT_EQ(slots_.slot(0).respawns.load(), 1u);
  EXPECT_EQ(sessions_.in_slot(0, 4), 0);
  EXPECT_EQ(sessions_.total(4), 5);
  EXPECT_EQ(slots_.metrics_row(0).sessions_closed.load(), 7u);  // never zeroed
  EXPECT_EQ(slots_.slot(1).pid.load(), 101);
}

TEST_F(SlotTableTest, ReleaseMakesTheSlotNoOnes) {
  slots_.set_count(1);
  slots_.claim(0, 100, SlotRole::admin, 2);
  table_->slots[0].drain_deadline_ms.store(monotonic_ms() + 1000);
  slots_.release(0);
  EXPECT_EQ(slots_.slot(0).pid.load(), 0);
  EXPECT_EQ(slots_.slot(0).role.load(), static_cast<uint32_t>(SlotRole::none));
  EXPECT_EQ(slots_.slot(0).generation.load(), 0u);
  EXPECT_EQ(slots_.slot(0).drain_deadline_ms.load(), 0);
}

TEST_F(SlotTableTest, CountIsBounded) {
  EXPECT_THROW(slots_.set_count(kMaxSlots + 1), std::length_error);
  slots_.set_count(kMaxSlots);
  EXPECT_EQ(slots_.count(), kMaxSlots);
}

TEST_F(SlotTableTest, SessionTotalsSumOnlyTheSlotsInUse) {
  slots_.set_count(1);
  sessions_.add(0, 1, 2);
  sessions_.add(1, 1, 9);  // a slot past the count: not summed
  EXPECT_EQ(sessions_.total(1), 2);
  EXPECT_EQ(sessions_.in_slot(1, 1), 9);
}

}  // namespace
}  // namespace wsgate::shm
