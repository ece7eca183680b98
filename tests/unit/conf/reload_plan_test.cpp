// What a reload must do for each kind of change (conf/reload_plan.h).
#include <gtest/gtest.h>

#include <string>

#include "conf/loader.h"
#include "conf/reload_plan.h"

namespace wsgate::conf {
namespace {

std::string config(const std::string& listen = "127.0.0.1:8080", const std::string& workers = "2",
                   const std::string& backends = "[127.0.0.1:9001]", const std::string& routes = "/chat",
                   const std::string& extra = "") {
  return "listen: " + listen + "\nworkers: " + workers + "\n" + extra + "pools:\n  chat:\n    backends: " + backends +
         "\nroutes:\n  - { path: " + routes + ", pool: chat }\n";
}

ReloadPlan plan(const std::string& a, const std::string& b) {
  return plan_reload(load_config_text(a, "a.yaml"), load_config_text(b, "b.yaml"));
}

TEST(ReloadPlan, TheSameFileIsNoChange) {
  const ReloadPlan p = plan(config(), config());
  EXPECT_EQ(p.kind, ReloadKind::nothing);
  EXPECT_EQ(p.summary(), "no change");
}

TEST(ReloadPlan, PoolsAndLimitsChangeInPlace) {
  EXPECT_EQ(plan(config(), config("127.0.0.1:8080", "2", "[127.0.0.1:9001, 127.0.0.1:9002]")).kind,
            ReloadKind::in_place);
  EXPECT_EQ(plan(config(), config("127.0.0.1:8080", "2", "[{address: 127.0.0.1:9001, weight: 5}]")).kind,
            ReloadKind::in_place);
  const ReloadPlan limits =
      plan(config(), config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/chat", "limits:\n  max_message: 1MiB\n"));
  EXPECT_EQ(limits.kind, ReloadKind::in_place);
  EXPECT_EQ(limits.summary(), "limits");
}

TEST(ReloadPlan, WhatWorkersAreBuiltAroundStartsAGeneration) {
  EXPECT_EQ(plan(config(), config("127.0.0.1:8081")).summary(), "listen");
  EXPECT_EQ(plan(config(), config("127.0.0.1:8080", "3")).summary(), "workers 2 -> 3");
  EXPECT_EQ(plan(config(), config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/other")).summary(), "routes");
  const ReloadPlan both = plan(config(), config("127.0.0.1:8080", "2", "[127.0.0.1:9002]", "/other"));
  EXPECT_EQ(both.kind, ReloadKind::new_generation);
  EXPECT_EQ(both.summary(), "routes, pools");
  EXPECT_EQ(plan(config(), config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/chat", "drain_timeout: 1m\n")).kind,
            ReloadKind::new_generation);
}

TEST(ReloadPlan, DrainSettingsAreParsedWithTheirDefaults) {
  const Config c = load_config_text(config(), "a.yaml");
  EXPECT_EQ(c.drain.drain_timeout, std::chrono::minutes(5));
  EXPECT_EQ(c.drain.max_generations, 2u);
  const Config d = load_config_text(
      config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/chat", "drain_timeout: 0s\nmax_generations: 8\n"), "a.yaml");
  EXPECT_EQ(d.drain.drain_timeout, Duration::zero());
  EXPECT_EQ(d.drain.max_generations, 8u);
  EXPECT_THROW(
      load_config_text(config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/chat", "max_generations: 9\n"), "a.yaml"),
      ConfigError);
  EXPECT_THROW(
      load_config_text(config("127.0.0.1:8080", "2", "[127.0.0.1:9001]", "/chat", "drain_timeout: 5\n"), "a.yaml"),
      ConfigError);
}

}  // namespace
}  // namespace wsgate::conf
