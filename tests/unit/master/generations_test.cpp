#include "master/generations.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace wsgate::master {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// drain_timeout 100 s (spread 10 s), close_timeout 5 s: a retiring
// generation is killed 17 s after its deadline.
std::shared_ptr<const conf::Config> config(unsigned workers = 2, uint32_t max_generations = 2,
                                           milliseconds drain_timeout = seconds(100)) {
  auto c = std::make_shared<conf::Config>();
  c->workers = workers;
  c->drain.max_generations = max_generations;
  c->drain.drain_timeout = drain_timeout;
  c->limits.close_timeout = seconds(5);
  return c;
}

std::shared_ptr<const conf::Config> with_stream(const std::string& name, unsigned workers = 2) {
  auto c = std::make_shared<conf::Config>(*config(workers));
  conf::Stream s;
  s.name = name;
  c->streams.push_back(s);
  return c;
}

TEST(GenerationPlanTest, AddNumbersGenerationsFromOne) {
  Generations gens;
  Generation& a = gens.add(config(), "a", GenState::active, 10);
  Generation& b = gens.add(config(), "b", GenState::starting, 20);
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(b.started_ms, 20);
  EXPECT_EQ(gens.find(GenState::active), &a);
  EXPECT_EQ(gens.find(GenState::starting), &b);
  EXPECT_EQ(gens.find(GenState::retiring), nullptr);
  EXPECT_EQ(gens.by_id(2), &b);
  EXPECT_EQ(gens.by_id(3), nullptr);
}

TEST(GenerationPlanTest, PromotionRetiresTheActiveOneWithTheNewDrainTimeout) {
  Generations gens;
  Generation& old = gens.add(config(2, 2, seconds(100)), "", GenState::active, 0);
  Generation& fresh = gens.add(config(2, 2, seconds(30)), "", GenState::starting, 0);
  EXPECT_EQ(gens.promote(fresh, 1000), &old);
  EXPECT_EQ(fresh.state, GenState::active);
  EXPECT_EQ(old.state, GenState::retiring);
  EXPECT_EQ(old.deadline_ms, 1000 + 30'000);  // the new config's drain_timeout
  // ...but killed after the old config's own spread and close_timeout.
  EXPECT_EQ(old.kill_at_ms, 1000 + 30'000 + 10'000 + 5'000 + 2'000);
  EXPECT_EQ(gens.retiring_count(), 1u);
}

TEST(GenerationPlanTest, TheFirstPromotionRetiresNothing) {
  Generations gens;
  Generation& g = gens.add(config(), "", GenState::starting, 0);
  EXPECT_EQ(gens.promote(g, 5), nullptr);
  EXPECT_EQ(g.state, GenState::active);
  EXPECT_EQ(gens.retiring_count(), 0u);
}

TEST(GenerationPlanTest, AnAbandonedGenerationGetsNoTimeToFinish) {
  Generations gens;
  Generation& g = gens.add(config(), "", GenState::starting, 0);
  Generations::abandon(g, 700);
  EXPECT_EQ(g.state, GenState::retiring);
  EXPECT_EQ(g.deadline_ms, 700);
  EXPECT_EQ(g.kill_at_ms, 700 + 5'000 + 2'000);
}

TEST(GenerationPlanTest, MaxGenerationsEndsTheOldestRetirementsNow) {
  Generations gens;
  Generation& g1 = gens.add(config(2, 2), "", GenState::retiring, 0);
  Generation& g2 = gens.add(config(2, 2), "", GenState::retiring, 0);
  Generation& g3 = gens.add(config(2, 2), "", GenState::retiring, 0);
  Generation& g4 = gens.add(config(2, 2), "", GenState::retiring, 0);
  gens.add(config(2, 2), "", GenState::active, 0);
  Generations::retire(g1, 5000);
  Generations::retire(g2, 500);  // already past its deadline: does not count
  Generations::retire(g3, 6000);
  Generations::retire(g4, 7000);
  // Newest first: g4 and g3 fit under 2; g2's deadline has passed; g1 is one too many.
  EXPECT_EQ(gens.over_limit(1000, 2), std::vector<Generation*>{&g1});
  EXPECT_EQ(gens.over_limit(1000, 1), (std::vector<Generation*>{&g3, &g1}));
  EXPECT_TRUE(gens.over_limit(1000, 3).empty());
  EXPECT_EQ(gens.retiring_count(), 4u);
  // Cut short: its retirement ends now, so it no longer counts either.
  Generations::retire(g1, 1000);
  EXPECT_TRUE(gens.over_limit(1000, 2).empty());
}

TEST(GenerationPlanTest, KillIsDueAtKillAtAndThenEverySecond) {
  Generations gens;
  Generation& g = gens.add(config(), "", GenState::retiring, 0);
  gens.add(config(), "", GenState::active, 0);
  Generations::retire(g, 1000);
  EXPECT_TRUE(gens.kill_due(g.kill_at_ms - 1).empty());
  EXPECT_EQ(gens.kill_due(g.kill_at_ms), std::vector<Generation*>{&g});
  const int64_t now = g.kill_at_ms;
  Generations::kill_again_later(g, now);
  EXPECT_TRUE(gens.kill_due(now + 999).empty());
  EXPECT_EQ(gens.kill_due(now + 1000).size(), 1u);
}

TEST(GenerationPlanTest, EraseForgetsOneGeneration) {
  Generations gens;
  Generation& a = gens.add(config(), "", GenState::retiring, 0);
  gens.add(config(), "", GenState::active, 0);
  gens.erase(a);
  EXPECT_EQ(gens.by_id(1), nullptr);
  EXPECT_NE(gens.by_id(2), nullptr);
  EXPECT_EQ(gens.add(config(), "", GenState::starting, 0).id, 3u);  // ids are never reused
}

TEST(GenerationPlanTest, ANewGenerationNeedsItsWorkersAndAFeederForNewStreams) {
  Generations gens;
  Generation& active = gens.add(with_stream("ticks"), "", GenState::active, 0);
  NewGenerationNeeds same = plan_new_generation(&active, *with_stream("ticks", 3));
  EXPECT_TRUE(same.same_streams);
  EXPECT_EQ(same.slots, 3u);
  NewGenerationNeeds changed = plan_new_generation(&active, *with_stream("quotes", 3));
  EXPECT_FALSE(changed.same_streams);
  EXPECT_EQ(changed.slots, 4u);
  NewGenerationNeeds none = plan_new_generation(&active, *config(3));
  EXPECT_FALSE(none.same_streams);
  EXPECT_EQ(none.slots, 3u);
  NewGenerationNeeds first = plan_new_generation(nullptr, *with_stream("ticks", 1));
  EXPECT_FALSE(first.same_streams);
  EXPECT_EQ(first.slots, 2u);
}

}  // namespace
}  // namespace wsgate::master
