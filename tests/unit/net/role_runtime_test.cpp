#include "worker/net/role_runtime.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <memory>
#include <string>

#include "worker/net/exit_codes.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {
namespace {

struct Mortal {
  explicit Mortal(int& deaths) : deaths_(deaths) {}
  ~Mortal() { ++deaths_; }
  int& deaths_;
};

class RoleRuntimeTest : public ::testing::Test {
 protected:
  std::unique_ptr<shm::Table> table_ = std::make_unique<shm::Table>();
  RoleIdentity who() { return {table_.get(), 3, 7, shm::SlotRole::prober, -1}; }
};

TEST_F(RoleRuntimeTest, ReadyClaimsTheSlotForThisProcess) {
  RoleRuntime rt(who());
  ASSERT_TRUE(rt.start([](const char*) {}));
  EXPECT_EQ(table_->slots[3].pid.load(), 0);
  rt.ready("test role for slot %u ready", 3u);
  EXPECT_EQ(table_->slots[3].pid.load(), getpid());
  EXPECT_EQ(table_->slots[3].role.load(), static_cast<uint32_t>(shm::SlotRole::prober));
  EXPECT_EQ(table_->slots[3].generation.load(), 7u);
  EXPECT_EQ(table_->slots[2].pid.load(), 0);
  rt.close();
  EXPECT_EQ(rt.run(), kExitOk);  // nothing left open: returns at once
}

// SIGTERM reaches the stop callback on the loop; closing there (and the
// role's own handles) ends the loop, and run() returns.
TEST_F(RoleRuntimeTest, AStopSignalEndsTheLoop) {
  std::string why;
  RoleRuntime rt(who());
  ASSERT_TRUE(rt.start([&](const char* w) {
    why = w;
    rt.close();
  }));
  UvHandle<uv_timer_t> kick;  // the role's own work: raises the signal once the loop runs
  ASSERT_EQ(kick.init(uv_timer_init, rt.loop(), &kick), 0);
  uv_timer_start(
      kick.get(),
      [](uv_timer_t* t) {
        static_cast<UvHandle<uv_timer_t>*>(t->data)->close();
        raise(SIGTERM);
      },
      0, 0);
  EXPECT_EQ(rt.run(), kExitOk);
  EXPECT_EQ(why, "SIGTERM");
}

TEST_F(RoleRuntimeTest, TheGraveyardRunsOnTheLoopAndCloseEmptiesIt) {
  int deaths = 0;
  int after = 0;
  RoleRuntime rt(who());
  ASSERT_TRUE(rt.start([](const char*) {}, {}, [&] { ++after; }));
  rt.graveyard().bury(std::make_unique<Mortal>(deaths));
  uv_run(rt.loop(), UV_RUN_NOWAIT);
  EXPECT_EQ(deaths, 1);
  EXPECT_EQ(after, 1);
  rt.graveyard().bury(std::make_unique<Mortal>(deaths));
  rt.close();
  EXPECT_EQ(deaths, 2);
}

}  // namespace
}  // namespace wsgate::worker
