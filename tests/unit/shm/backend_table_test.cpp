#include "shm/backend_table.h"

#include <gtest/gtest.h>

#include <memory>

namespace wsgate::shm {
namespace {

struct TableFixture : ::testing::Test {
  std::unique_ptr<Table> storage = std::make_unique<Table>();
  BackendTable table{*storage};
};

TEST_F(TableFixture, LoadIsTheSumOfEverySlotsRow) {
  table.set_slot_count(3);
  uint32_t a = table.add_backend("chat", "127.0.0.1:9001", 1);
  uint32_t b = table.add_backend("chat", "127.0.0.1:9002", 2);
  table.add_session(0, a, 2);
  table.add_session(1, a, 3);
  table.add_session(2, b, 1);
  EXPECT_EQ(table.sessions(a), 5);
  EXPECT_EQ(table.sessions(b), 1);
  EXPECT_EQ(table.sessions_in_slot(1, a), 3);
  EXPECT_EQ(table.backend_count(), 2u);
  EXPECT_STREQ(table.backend(b).address, "127.0.0.1:9002");
  EXPECT_EQ(table.backend(b).weight.load(), 2u);
}

TEST_F(TableFixture, RowsBeyondSlotCountAreNotSummed) {
  table.set_slot_count(1);
  uint32_t a = table.add_backend("p", "127.0.0.1:1", 1);
  table.add_session(1, a, 4);
  EXPECT_EQ(table.sessions(a), 0);
}

TEST_F(TableFixture, ClearingADeadWorkersSlotRemovesOnlyItsSessions) {
  table.set_slot_count(2);
  uint32_t a = table.add_backend("chat", "127.0.0.1:9001", 1);
  table.claim_slot(0, 100, SlotRole::proxy, 1);
  table.claim_slot(1, 101, SlotRole::proxy, 1);
  table.add_session(0, a, 7);
  table.add_session(1, a, 5);
  table.add_connection(0, 7);
  table.clear_slot(0);
  EXPECT_EQ(table.sessions(a), 5);
  EXPECT_EQ(table.slot(0).pid.load(), 0);
  EXPECT_EQ(table.slot(0).connections.load(), 0u);
  EXPECT_EQ(table.slot(1).pid.load(), 101);
}

TEST_F(TableFixture, PassiveFailureMarksDownForFailTimeout) {
  uint32_t a = table.add_backend("chat", "127.0.0.1:9001", 1);
  EXPECT_TRUE(table.available(a, 1000));
  table.record_failure(a, 1000, 500);
  EXPECT_FALSE(table.available(a, 1000));
  EXPECT_FALSE(table.available(a, 1499));
  EXPECT_EQ(table.down_for_ms(a, 1200), 300);
  EXPECT_TRUE(table.available(a, 1500));
  EXPECT_EQ(table.backend(a).consecutive_failures.load(), 1u);
  table.record_success(a);
  EXPECT_EQ(table.backend(a).consecutive_failures.load(), 0u);
  EXPECT_EQ(table.backend(a).failures_total.load(), 1u);
}

TEST_F(TableFixture, ZeroFailTimeoutNeverMarksDown) {
  uint32_t a = table.add_backend("chat", "127.0.0.1:9001", 1);
  table.record_failure(a, 1000, 0);
  EXPECT_TRUE(table.available(a, 1000));
}

TEST_F(TableFixture, AdministrativelyDownIsNotAvailable) {
  uint32_t a = table.add_backend("chat", "127.0.0.1:9001", 1);
  storage->backends[a].admin_state.store(static_cast<uint32_t>(BackendState::down));
  EXPECT_FALSE(table.available(a, 0));
}

TEST_F(TableFixture, CapacitiesAreEnforced) {
  for (uint32_t i = 0; i < kMaxBackends; ++i) {
    table.add_backend("p", "127.0.0.1:" + std::to_string(i + 1), 1);
  }
  EXPECT_THROW(table.add_backend("p", "127.0.0.1:1", 1), std::length_error);
  EXPECT_THROW(table.set_slot_count(kMaxSlots + 1), std::length_error);
  EXPECT_THROW(BackendTable(*std::make_unique<Table>()).add_backend(std::string(kNameLen, 'x'), "a", 1),
               std::length_error);
}

}  // namespace
}  // namespace wsgate::shm
