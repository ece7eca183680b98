// The loader on valid input, on files, and on the shipped sample config.
// Errors are in loader_errors_test.cpp.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kFile;
using testing::yaml;

const std::string kMinimal = yaml({
    "listen: 127.0.0.1:8080",
    "pools:",
    "  chat:",
    "    backends:",
    "      - 127.0.0.1:9001",
    "routes:",
    "  - { path: /chat, pool: chat }",
});

Endpoint v4(const char* host, uint16_t port) { return Endpoint{host, port, false}; }
Endpoint v6(const char* host, uint16_t port) { return Endpoint{host, port, true}; }

TEST(LoadConfig, EveryKey) {
  const Config c =
      load_config_text(yaml({
                           "listen:",
                           "  - 127.0.0.1:8080",
                           "  - \"[::1]:8443\"",
                           "workers: 4",
                           "limits:",
                           "  max_message: 1MiB",
                           "  max_fragments: 100",
                           "  max_header: 8KiB",
                           "  handshake_timeout: 3s",
                           "  max_connections: 5000",
                           "  close_timeout: 1500ms",
                           "pools:",
                           "  chat:",
                           "    balance: round_robin",
                           "    connect_timeout: 250ms",
                           "    retries: 0",
                           "    fail_timeout: 0ms",
                           "    backends:",
                           "      - 127.0.0.1:9001",
                           "      - { address: 127.0.0.1:9002, weight: 2 }",
                           "      - address: \"[::1]:9003\"",
                           "        weight: 1000",
                           "  echo.v2:",
                           "    balance: least_conn",
                           "    backends: [ localhost:9101 ]",
                           "routes:",
                           "  - { path: /chat, pool: chat, origins: [ \"https://a.example\", \"https://b.example\" ] }",
                           "  - path: /echo",
                           "    pool: echo.v2",
                           "    validate_utf8: false",
                           "  - { path: /, pool: chat, validate_utf8: true }",
                       }),
                       "full.yaml");

  EXPECT_EQ(c.file, "full.yaml");
  EXPECT_EQ(c.listen_addresses(), (std::vector<Endpoint>{v4("127.0.0.1", 8080), v6("::1", 8443)}));
  EXPECT_EQ(c.workers, 4u);

  EXPECT_EQ(c.limits.max_message, MiB);
  EXPECT_EQ(c.limits.max_fragments, 100u);
  EXPECT_EQ(c.limits.max_header, 8 * KiB);
  EXPECT_EQ(c.limits.handshake_timeout, seconds(3));
  EXPECT_EQ(c.limits.max_connections, 5000u);
  EXPECT_EQ(c.limits.close_timeout, milliseconds(1500));

  ASSERT_EQ(c.pools.size(), 2u);
  const Pool& chat = c.pools[0];
  EXPECT_EQ(chat.name, "chat");
  EXPECT_EQ(chat.balance, Balance::round_robin);
  EXPECT_EQ(chat.connect_timeout, milliseconds(250));
  EXPECT_EQ(chat.retries, 0u);
  EXPECT_EQ(chat.fail_timeout, milliseconds(0));
  ASSERT_EQ(chat.backends.size(), 3u);
  EXPECT_EQ(chat.backends[0].endpoint, v4("127.0.0.1", 9001));
  EXPECT_EQ(chat.backends[0].weight, 1u);
  EXPECT_EQ(chat.backends[1].endpoint, v4("127.0.0.1", 9002));
  EXPECT_EQ(chat.backends[1].weight, 2u);
  EXPECT_EQ(chat.backends[2].endpoint, v6("::1", 9003));
  EXPECT_EQ(chat.backends[2].weight, 1000u);

  const Pool& echo = c.pools[1];
  EXPECT_EQ(echo.name, "echo.v2");
  EXPECT_EQ(echo.balance, Balance::least_conn);
  ASSERT_EQ(echo.backends.size(), 1u);
  EXPECT_EQ(echo.backends[0].endpoint, v4("127.0.0.1", 9101));

  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].path, "/chat");
  EXPECT_EQ(c.routes[0].pool, "chat");
  EXPECT_EQ(c.routes[0].pool_index, 0u);
  EXPECT_EQ(c.routes[0].origins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_TRUE(c.routes[0].validate_utf8);
  EXPECT_EQ(c.routes[1].path, "/echo");
  EXPECT_EQ(c.routes[1].pool, "echo.v2");
  EXPECT_EQ(c.routes[1].pool_index, 1u);
  EXPECT_TRUE(c.routes[1].origins.empty());
  EXPECT_FALSE(c.routes[1].validate_utf8);
  EXPECT_EQ(c.routes[2].path, "/");
  EXPECT_EQ(c.routes[2].pool_index, 0u);
  EXPECT_TRUE(c.routes[2].validate_utf8);
}

TEST(LoadConfig, Defaults) {
  const Config c = load_config_text(kMinimal, kFile);
  const Limits limits;
  const Pool pool;
  const Route route;

  EXPECT_EQ(c.file, kFile);
  EXPECT_EQ(c.listen_addresses(), (std::vector<Endpoint>{v4("127.0.0.1", 8080)}));
  EXPECT_EQ(c.workers, 1u);
  EXPECT_EQ(c.limits.max_message, limits.max_message);
  EXPECT_EQ(c.limits.max_fragments, limits.max_fragments);
  EXPECT_EQ(c.limits.max_header, limits.max_header);
  EXPECT_EQ(c.limits.handshake_timeout, limits.handshake_timeout);
  EXPECT_EQ(c.limits.max_connections, limits.max_connections);
  EXPECT_EQ(c.limits.close_timeout, limits.close_timeout);

  ASSERT_EQ(c.pools.size(), 1u);
  EXPECT_EQ(c.pools[0].balance, pool.balance);
  EXPECT_EQ(c.pools[0].connect_timeout, pool.connect_timeout);
  EXPECT_EQ(c.pools[0].retries, pool.retries);
  EXPECT_EQ(c.pools[0].fail_timeout, pool.fail_timeout);
  ASSERT_EQ(c.pools[0].backends.size(), 1u);
  EXPECT_EQ(c.pools[0].backends[0].weight, 1u);

  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].pool_index, 0u);
  EXPECT_TRUE(c.routes[0].origins.empty());
  EXPECT_EQ(c.routes[0].validate_utf8, route.validate_utf8);
  EXPECT_EQ(c.routes[0].ping_interval, route.ping_interval);
  EXPECT_EQ(c.routes[0].pong_timeout, route.pong_timeout);
}

TEST(LoadConfig, DefaultsMatchTheReference) {
  // The documented defaults, so a change to config.h shows up here too.
  const Limits limits;
  EXPECT_EQ(limits.max_message, 16 * MiB);
  EXPECT_EQ(limits.max_fragments, 4096u);
  EXPECT_EQ(limits.max_header, 16 * KiB);
  EXPECT_EQ(limits.handshake_timeout, seconds(5));
  EXPECT_EQ(limits.max_connections, 100000u);
  EXPECT_EQ(limits.close_timeout, seconds(5));
  const Pool pool;
  EXPECT_EQ(pool.balance, Balance::least_conn);
  EXPECT_EQ(pool.connect_timeout, seconds(2));
  EXPECT_EQ(pool.retries, 2u);
  EXPECT_EQ(pool.fail_timeout, seconds(10));
  const Route route;
  EXPECT_EQ(route.ping_interval, milliseconds(0)) << "pinging is off unless asked for";
  EXPECT_EQ(route.pong_timeout, seconds(10));
}

// A route with only `path`, `pool` and the given keep-alive keys (lines 7..).
Route keepalive_route(std::initializer_list<std::string> keys) {
  std::string text = yaml({
      "listen: 127.0.0.1:8080",
      "pools:",
      "  chat:",
      "    backends: [127.0.0.1:9001]",
      "routes:",
      "  - path: /chat",
      "    pool: chat",
  });
  for (const std::string& key : keys) text += "    " + key + "\n";
  return load_config_text(text, kFile).routes.at(0);
}

TEST(LoadConfig, RouteKeepalive) {
  Route r = keepalive_route({"ping_interval: 30s", "pong_timeout: 5s"});
  EXPECT_EQ(r.ping_interval, seconds(30));
  EXPECT_EQ(r.pong_timeout, seconds(5));

  r = keepalive_route({"ping_interval: 0s"});
  EXPECT_EQ(r.ping_interval, milliseconds(0)) << "0s is off";
  EXPECT_EQ(r.pong_timeout, seconds(10));

  r = keepalive_route({"pong_timeout: 20s"});  // unused without pinging, but valid
  EXPECT_EQ(r.ping_interval, milliseconds(0));
  EXPECT_EQ(r.pong_timeout, seconds(20));
}

TEST(LoadConfig, RoutePongTimeoutDefaultsBelowTheInterval) {
  EXPECT_EQ(keepalive_route({"ping_interval: 1m"}).pong_timeout, seconds(10));
  EXPECT_EQ(keepalive_route({"ping_interval: 20s"}).pong_timeout, seconds(10));
  EXPECT_EQ(keepalive_route({"ping_interval: 5s"}).pong_timeout, milliseconds(2500));
  EXPECT_EQ(keepalive_route({"ping_interval: 1s"}).pong_timeout, milliseconds(500));
}

TEST(LoadConfig, RouteKeepaliveRangeBounds) {
  Route low = keepalive_route({"ping_interval: 1s", "pong_timeout: 100ms"});
  EXPECT_EQ(low.ping_interval, seconds(1));
  EXPECT_EQ(low.pong_timeout, milliseconds(100));
  Route high = keepalive_route({"ping_interval: 1h", "pong_timeout: 10m"});
  EXPECT_EQ(high.ping_interval, std::chrono::hours(1));
  EXPECT_EQ(high.pong_timeout, std::chrono::minutes(10));
  EXPECT_EQ(keepalive_route({"ping_interval: 2s", "pong_timeout: 1999ms"}).pong_timeout, milliseconds(1999));
}

TEST(LoadConfig, StreamRouteKeepalive) {
  const Config c = load_config_text(yaml({
                                        "listen: 127.0.0.1:8080",
                                        "streams:",
                                        "  ticker:",
                                        "    source: ws://127.0.0.1:9100/ticker",
                                        "routes:",
                                        "  - { path: /ticker, stream: ticker, ping_interval: 15s, pong_timeout: 3s }",
                                    }),
                                    kFile);
  EXPECT_TRUE(c.routes[0].is_stream());
  EXPECT_EQ(c.routes[0].ping_interval, seconds(15));
  EXPECT_EQ(c.routes[0].pong_timeout, seconds(3));
}

TEST(LoadConfig, WorkersAuto) {
  const Config c = load_config_text("workers: auto\n" + kMinimal, kFile);
  const unsigned cpus = std::thread::hardware_concurrency();
  EXPECT_EQ(c.workers, std::clamp(cpus, 1u, 64u));
}

TEST(LoadConfig, EmptyLimitsSectionMeansDefaults) {
  const Config c = load_config_text("limits:\n  # max_message: 1MiB\n" + kMinimal, kFile);
  EXPECT_EQ(c.limits.max_message, Limits{}.max_message);
}

TEST(LoadConfig, RangeBoundsAreInclusive) {
  const Config low = load_config_text(yaml({
                                          "listen: 127.0.0.1:1",
                                          "workers: 1",
                                          "limits:",
                                          "  max_message: 1KiB",
                                          "  max_fragments: 1",
                                          "  max_header: 1024",  // a plain integer is bytes
                                          "  handshake_timeout: 100ms",
                                          "  max_connections: 1",
                                          "  close_timeout: 100ms",
                                          "pools:",
                                          "  p:",
                                          "    connect_timeout: 10ms",
                                          "    retries: 0",
                                          "    fail_timeout: 0s",
                                          "    backends: [ { address: 127.0.0.1:9001, weight: 1 } ]",
                                          "routes: [ { path: /, pool: p } ]",
                                      }),
                                      kFile);
  EXPECT_EQ(low.limits.max_message, KiB);
  EXPECT_EQ(low.limits.max_header, KiB);
  EXPECT_EQ(low.pools[0].connect_timeout, milliseconds(10));

  const Config high = load_config_text(yaml({
                                           "listen: 127.0.0.1:65535",
                                           "workers: 64",
                                           "limits:",
                                           "  max_message: 1GiB",
                                           "  max_fragments: 1000000",
                                           "  max_header: 1MiB",
                                           "  handshake_timeout: 10m",
                                           "  max_connections: 10000000",
                                           "  close_timeout: 600s",
                                           "pools:",
                                           "  p:",
                                           "    connect_timeout: 10m",
                                           "    retries: 100",
                                           "    fail_timeout: 1h",
                                           "    backends: [ { address: 127.0.0.1:9001, weight: 1000 } ]",
                                           "routes: [ { path: /, pool: p } ]",
                                       }),
                                       kFile);
  EXPECT_EQ(high.workers, 64u);
  EXPECT_EQ(high.limits.max_message, GiB);
  EXPECT_EQ(high.limits.max_connections, 10000000u);
  EXPECT_EQ(high.limits.close_timeout, std::chrono::minutes(10));
  EXPECT_EQ(high.pools[0].fail_timeout, std::chrono::hours(1));
  EXPECT_EQ(high.pools[0].backends[0].weight, 1000u);
}

TEST(LoadConfig, LocalhostAndIPv6Listen) {
  const Config c =
      load_config_text("listen: [ localhost:8080, \"[::]:8080\" ]\n" + kMinimal.substr(kMinimal.find("pools:")), kFile);
  EXPECT_EQ(c.listen_addresses(), (std::vector<Endpoint>{v4("127.0.0.1", 8080), v6("::", 8080)}));
}

TEST(LoadConfig, SameBackendInTwoPools) {
  // Only a repeat inside one pool is a mistake; pools may share a backend.
  const Config c = load_config_text(yaml({
                                        "listen: 127.0.0.1:8080",
                                        "pools:",
                                        "  a: { backends: [ 127.0.0.1:9001 ] }",
                                        "  b: { backends: [ 127.0.0.1:9001 ] }",
                                        "routes:",
                                        "  - { path: /a, pool: a }",
                                        "  - { path: /b, pool: b }",
                                    }),
                                    kFile);
  EXPECT_EQ(c.pools.size(), 2u);
  EXPECT_EQ(c.routes[1].pool_index, 1u);
}

TEST(LoadConfig, ExactlyTheMaximumOfBackends) {
  std::string text = "listen: 127.0.0.1:8080\npools:\n  a:\n    backends:\n";
  for (int i = 0; i < 512; ++i) {
    text += "      - 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80\n";
  }
  text += "routes: [ { path: /, pool: a } ]\n";
  EXPECT_EQ(load_config_text(text, kFile).pools[0].backends.size(), 512u);
}

TEST(LoadConfig, TrailingDocumentMarkerIsHarmless) {
  EXPECT_NO_THROW(load_config_text("---\n" + kMinimal + "---\n", kFile));
}

TEST(ConfigError, WhatReadsFileLineKeyWhy) {
  const ConfigError e("a.yaml", 3, "pools.chat.retries", "expected an integer");
  EXPECT_STREQ(e.what(), "a.yaml:3: pools.chat.retries: expected an integer");
  EXPECT_EQ(e.file(), "a.yaml");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.key(), "pools.chat.retries");
  EXPECT_EQ(e.why(), "expected an integer");
}

TEST(ConfigError, WithoutAKeyWhatLeavesItOut) {
  const ConfigError e("a.yaml", 0, "", "cannot read file: No such file or directory");
  EXPECT_STREQ(e.what(), "a.yaml:0: cannot read file: No such file or directory");
}

// A file in a fresh temporary directory, removed with it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "wsgate-conf-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;  // best effort: a leftover temp dir must not fail the test
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      throw std::runtime_error("cannot write " + file.string());
    }
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(LoadConfigFile, ReadsTheFile) {
  const TempDir dir;
  const std::string path = dir.write("wsgate.yaml", kMinimal);
  const Config c = load_config(path);
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.routes.at(0).path, "/chat");
}

TEST(LoadConfigFile, ErrorsNameThePath) {
  const TempDir dir;
  const std::string path = dir.write("bad.yaml", "listen: 127.0.0.1:8080\nworkers: 0\n");
  try {
    load_config(path);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.key(), "workers");
    EXPECT_EQ(std::string(e.what()), path + ":2: workers: " + e.why());
  }
}

TEST(LoadConfigFile, MissingFile) {
  const TempDir dir;
  const std::string path = dir.path() + "/nope.yaml";
  try {
    load_config(path);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.line(), 0);
    EXPECT_EQ(e.key(), "");
    EXPECT_EQ(e.why(), "cannot read file: No such file or directory");
    EXPECT_EQ(std::string(e.what()), path + ":0: cannot read file: No such file or directory");
  }
}

TEST(LoadConfigFile, DirectoryIsUnreadable) {
  const TempDir dir;
  try {
    load_config(dir.path());
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 0);
    EXPECT_EQ(e.why(), "cannot read file: Is a directory");
  }
}

TEST(LoadConfigFile, UnreadableFile) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  const TempDir dir;
  const std::string path = dir.write("secret.yaml", kMinimal);
  std::filesystem::permissions(path, std::filesystem::perms::none);
  try {
    load_config(path);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 0);
    EXPECT_EQ(e.why(), "cannot read file: Permission denied");
  }
}

TEST(LoadConfigFile, EmptyFile) {
  const TempDir dir;
  const std::string path = dir.write("empty.yaml", "");
  try {
    load_config(path);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_NE(e.why().find("empty"), std::string::npos) << e.what();
  }
}

// conf/wsgate.yaml, found from this file: tests/unit/conf/ -> the source root.
std::string shipped_config() {
  return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "conf" / "wsgate.yaml")
      .lexically_normal()
      .string();
}

TEST(ShippedConfig, Loads) {
  const std::string path = shipped_config();
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const Config c = load_config(path);
  EXPECT_EQ(c.listen_addresses(), (std::vector<Endpoint>{v4("127.0.0.1", 8080)}));
  EXPECT_EQ(c.workers, 2u);
  ASSERT_EQ(c.pools.size(), 1u);
  EXPECT_EQ(c.pools[0].name, "chat");
  EXPECT_EQ(c.pools[0].balance, Balance::least_conn);
  ASSERT_EQ(c.pools[0].backends.size(), 3u);
  EXPECT_EQ(c.pools[0].backends[0].endpoint, v4("127.0.0.1", 9001));
  EXPECT_EQ(c.pools[0].backends[1].endpoint, v4("127.0.0.1", 9002));
  EXPECT_EQ(c.pools[0].backends[2].endpoint, v4("127.0.0.1", 9003));
  ASSERT_TRUE(c.pools[0].health.has_value()) << "the demo shows active health checks";
  EXPECT_EQ(c.pools[0].health->path, "/");
  ASSERT_EQ(c.routes.size(), 3u);  // /chat, /echo and the stream route /ticker
  EXPECT_EQ(c.routes[0].path, "/chat");
  EXPECT_EQ(c.routes[1].path, "/echo");
  EXPECT_EQ(c.routes[0].pool_index, 0u);
  EXPECT_EQ(c.routes[1].pool_index, 0u);
  EXPECT_EQ(c.routes[0].ping_interval, seconds(30)) << "the demo shows keep-alive on /chat";
  EXPECT_EQ(c.routes[0].pong_timeout, seconds(10));
  EXPECT_EQ(c.routes[1].ping_interval, milliseconds(0));
}

}  // namespace
}  // namespace wsgate::conf
