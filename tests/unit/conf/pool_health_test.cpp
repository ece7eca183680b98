// The per-pool keys for losing backends: active health checks (`health`) and the
// backend-loss, handshake-rate and slow-start settings, valid and invalid.
// In each error test the n-th string of a yaml({...}) list is line n.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::Fails;
using testing::kFile;
using testing::yaml;

// Line 1 listen, 2 "pools:", 3 "  chat:", then `pool_lines` from line 4
// (indented by the caller), then the backends and a route.
std::string with_pool(std::initializer_list<std::string> pool_lines) {
  return yaml({"listen: 127.0.0.1:8080", "pools:", "  chat:"}) + yaml(pool_lines) +
         yaml({"    backends: [127.0.0.1:9001]", "routes: [ { path: /chat, pool: chat } ]"});
}

Pool load_pool(std::initializer_list<std::string> pool_lines) {
  return load_config_text(with_pool(pool_lines), kFile).pools.at(0);
}

// ------------------------------------------------------------ valid

TEST(PoolHealth, OmittedMeansPassiveOnlyAndDefaultsMatchTheReference) {
  const Pool p = load_pool({});
  EXPECT_FALSE(p.health.has_value());
  EXPECT_EQ(p.on_backend_loss, LossPolicy::close);
  EXPECT_EQ(p.loss_spread, seconds(1));
  EXPECT_EQ(p.max_handshake_rate, 0u);
  EXPECT_EQ(p.slow_start, milliseconds(0));
  EXPECT_EQ(p.reconnect_buffer, 64 * KiB);
  const Health h;
  EXPECT_EQ(h.interval, seconds(1));
  EXPECT_EQ(h.timeout, seconds(1));
  EXPECT_EQ(h.path, "/");
  EXPECT_EQ(h.rise, 2u);
  EXPECT_EQ(h.fall, 2u);
}

TEST(PoolHealth, EveryKey) {
  const Pool p = load_pool({
      "    health:",
      "      interval: 200ms",
      "      timeout: 150ms",
      "      path: /health?mode=deep&x=1",
      "      rise: 3",
      "      fall: 5",
      "    on_backend_loss: reconnect",
      "    loss_spread: 2500ms",
      "    max_handshake_rate: 250",
      "    slow_start: 30s",
      "    reconnect_buffer: 1MiB",
  });
  ASSERT_TRUE(p.health.has_value());
  EXPECT_EQ(p.health->interval, milliseconds(200));
  EXPECT_EQ(p.health->timeout, milliseconds(150));
  EXPECT_EQ(p.health->path, "/health?mode=deep&x=1");
  EXPECT_EQ(p.health->rise, 3u);
  EXPECT_EQ(p.health->fall, 5u);
  EXPECT_EQ(p.on_backend_loss, LossPolicy::reconnect);
  EXPECT_EQ(p.loss_spread, milliseconds(2500));
  EXPECT_EQ(p.max_handshake_rate, 250u);
  EXPECT_EQ(p.slow_start, seconds(30));
  EXPECT_EQ(p.reconnect_buffer, MiB);
}

TEST(PoolHealth, EmptyMapOrEmptyValueEnablesChecksWithDefaults) {
  for (const std::string line : {"    health: {}", "    health:"}) {
    const Pool p = load_config_text(with_pool({line}), kFile).pools.at(0);
    ASSERT_TRUE(p.health.has_value()) << line;
    EXPECT_EQ(p.health->interval, seconds(1)) << line;
    EXPECT_EQ(p.health->timeout, seconds(1)) << line;
    EXPECT_EQ(p.health->path, "/") << line;
  }
  const Pool commented = load_pool({"    health:", "      # interval: 5s"});
  ASSERT_TRUE(commented.health.has_value());
  EXPECT_EQ(commented.health->interval, seconds(1));
}

TEST(PoolHealth, TimeoutDefaultsToAShorterInterval) {
  const Pool p = load_pool({"    health: { interval: 200ms }"});
  EXPECT_EQ(p.health->timeout, milliseconds(200));
  const Pool q = load_pool({"    health: { interval: 5s }"});
  EXPECT_EQ(q.health->timeout, seconds(1));
}

TEST(PoolHealth, RangeBoundsAreInclusive) {
  const Pool low = load_pool({
      "    health: { interval: 100ms, timeout: 10ms, path: /, rise: 1, fall: 1 }",
      "    loss_spread: 0ms",
      "    max_handshake_rate: 0",
      "    slow_start: 0ms",
      "    reconnect_buffer: 1KiB",
  });
  EXPECT_EQ(low.health->interval, milliseconds(100));
  EXPECT_EQ(low.health->timeout, milliseconds(10));
  EXPECT_EQ(low.health->rise, 1u);
  EXPECT_EQ(low.health->fall, 1u);
  EXPECT_EQ(low.loss_spread, milliseconds(0));
  EXPECT_EQ(low.reconnect_buffer, KiB);
  const Pool high = load_pool({
      "    health: { interval: 1h, timeout: 1m, rise: 100, fall: 100 }",
      "    loss_spread: 10m",
      "    max_handshake_rate: 1000000",
      "    slow_start: 1h",
      "    reconnect_buffer: 16MiB",
  });
  EXPECT_EQ(high.health->interval, hours(1));
  EXPECT_EQ(high.health->timeout, minutes(1));
  EXPECT_EQ(high.health->rise, 100u);
  EXPECT_EQ(high.health->fall, 100u);
  EXPECT_EQ(high.loss_spread, minutes(10));
  EXPECT_EQ(high.max_handshake_rate, 1000000u);
  EXPECT_EQ(high.slow_start, hours(1));
  EXPECT_EQ(high.reconnect_buffer, 16 * MiB);
}

TEST(PoolHealth, SixtyFourPoolsAreFine) {
  std::string text = "listen: 127.0.0.1:8080\npools:\n";
  for (int i = 0; i < 64; ++i) {
    text += "  p" + std::to_string(i) + ": { backends: [127.0.0.1:" + std::to_string(9000 + i) + "] }\n";
  }
  text += "routes: [ { path: /, pool: p0 } ]\n";
  EXPECT_EQ(load_config_text(text, kFile).pools.size(), 64u);
}

// ------------------------------------------------------------ errors

TEST(PoolHealthErrors, Values) {
  struct Case {
    std::string line;  // line 4, inside pool "chat"
    std::string key;   // under pools.chat
    std::string why;
  };
  const std::vector<Case> cases = {
      {"health: 1s", "health", "expected a map, got \"1s\""},
      {"health: [1s]", "health", "expected a map, got a list"},
      {"on_backend_loss: retry", "on_backend_loss", "expected close or reconnect, got \"retry\""},
      {"on_backend_loss: [close]", "on_backend_loss", "expected close or reconnect, got a list"},
      {"loss_spread: 11m", "loss_spread", "expected a duration from 0ms to 10m, got \"11m\""},
      {"loss_spread: 1", "loss_spread", "expected a duration like 5s or 500ms, got \"1\""},
      {"max_handshake_rate: -1", "max_handshake_rate", "expected an integer from 0 to 1000000, got \"-1\""},
      {"max_handshake_rate: 1000001", "max_handshake_rate", "expected an integer from 0 to 1000000, got \"1000001\""},
      {"max_handshake_rate: 10/s", "max_handshake_rate", "expected an integer from 0 to 1000000, got \"10/s\""},
      {"slow_start: 61m", "slow_start", "expected a duration from 0ms to 1h, got \"61m\""},
      {"slow_start: off", "slow_start", "expected a duration like 5s or 500ms, got \"off\""},
      {"reconnect_buffer: 1000B", "reconnect_buffer", "expected a size from 1KiB to 16MiB, got \"1000B\""},
      {"reconnect_buffer: 17MiB", "reconnect_buffer", "expected a size from 1KiB to 16MiB, got \"17MiB\""},
      {"reconnect_buffer: lots", "reconnect_buffer", "expected a size like 16KiB, got \"lots\""},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(Fails(with_pool({"    " + c.line}), 4, "pools.chat." + c.key, c.why)) << c.line;
  }
}

TEST(PoolHealthErrors, HealthValues) {
  struct Case {
    std::string line;  // line 5, inside pools.chat.health
    std::string key;   // under pools.chat.health
    std::string why;
  };
  const std::vector<Case> cases = {
      {"interval: 99ms", "interval", "expected a duration from 100ms to 1h, got \"99ms\""},
      {"interval: 2h", "interval", "expected a duration from 100ms to 1h, got \"2h\""},
      {"interval: 1", "interval", "expected a duration like 5s or 500ms, got \"1\""},
      {"timeout: 9ms", "timeout", "expected a duration from 10ms to 1m, got \"9ms\""},
      {"timeout: 61s", "timeout", "expected a duration from 10ms to 1m, got \"61s\""},
      {"timeout: 2s", "timeout", "expected at most the interval (1s) so that checks never overlap, got \"2s\""},
      {"path: health", "path", "expected a path starting with '/', got \"health\""},
      {"path: \"\"", "path", "expected a path starting with '/', got \"\""},
      {"path: /a#b", "path", "a health path cannot contain '#', got \"/a#b\""},
      {"path: \"/a b\"", "path", "a health path cannot contain whitespace, got \"/a b\""},
      {"path: [/]", "path", "expected a path like /health, got a list"},
      {"rise: 0", "rise", "expected an integer from 1 to 100, got \"0\""},
      {"rise: 101", "rise", "expected an integer from 1 to 100, got \"101\""},
      {"fall: 0", "fall", "expected an integer from 1 to 100, got \"0\""},
      {"fall: many", "fall", "expected an integer from 1 to 100, got \"many\""},
      {"intervall: 1s", "intervall", "unknown key; expected one of interval, timeout, path, rise, fall"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(Fails(with_pool({"    health:", "      " + c.line}), 5, "pools.chat.health." + c.key, c.why)) << c.line;
  }
}

TEST(PoolHealthErrors, TimeoutAboveAGivenIntervalNamesTheTimeoutLine) {
  EXPECT_TRUE(Fails(with_pool({"    health:", "      interval: 200ms", "      timeout: 300ms"}), 6,
                    "pools.chat.health.timeout",
                    "expected at most the interval (200ms) so that checks never overlap, got \"300ms\""));
}

TEST(PoolHealthErrors, DuplicateHealthKey) {
  EXPECT_TRUE(Fails(with_pool({"    health:", "      rise: 1", "      rise: 2"}), 6, "pools.chat.health.rise",
                    "duplicate key; first given on line 5"));
}

TEST(PoolHealthErrors, MoreThanSixtyFourPools) {
  // Pools start on line 3 (one per line): the 65th is on line 67.
  std::string text = "listen: 127.0.0.1:8080\npools:\n";
  for (int i = 0; i < 65; ++i) {
    text += "  p" + std::to_string(i) + ": { backends: [127.0.0.1:" + std::to_string(9000 + i) + "] }\n";
  }
  text += "routes: [ { path: /, pool: p0 } ]\n";
  EXPECT_TRUE(Fails(text, 67, "pools.p64", "more than 64 pools"));
}

}  // namespace
}  // namespace wsgate::conf
