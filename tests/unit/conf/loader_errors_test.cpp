// Every validation error of the loader: the file, the 1-based line, the
// dotted key and a recognisable reason. In each test, the n-th string of a
// yaml({...}) list is line n of the document.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using testing::Fails;
using testing::with_pools_and_routes;
using testing::yaml;

// Lines 1..4 are a listen address and a pool "chat"; `tail` starts at line 5.
std::string with_listen_and_pools(std::initializer_list<std::string> tail) {
  return yaml({
             "listen: 127.0.0.1:8080",
             "pools:",
             "  chat:",
             "    backends: [127.0.0.1:9001]",
         }) +
         yaml(tail);
}

// Line 1 is a listen address, `pools` starts at line 2, a valid route follows.
std::string with_listen_and_routes(std::initializer_list<std::string> pools) {
  return "listen: 127.0.0.1:8080\n" + yaml(pools) + "routes: [ { path: /chat, pool: chat } ]\n";
}

// ------------------------------------------------------------ the document

TEST(LoaderErrors, EmptyText) {
  EXPECT_TRUE(Fails("", 0, "", "the file is empty"));
  EXPECT_TRUE(Fails("\n\n", 0, "", "the file is empty"));
  EXPECT_TRUE(Fails("# only a comment\n", 0, "", "the file is empty"));
  EXPECT_TRUE(Fails("---\n", 0, "", "the file is empty"));
}

// yaml-cpp 0.7's LoadAll never returns on these (found by tests/fuzz/config.cpp):
// an error, not a hang that eats the host's memory.
TEST(LoaderErrors, TextWithoutEndIsAnError) {
  EXPECT_TRUE(Fails(",", 0, "", "YAML parser cannot find the end"));
  EXPECT_TRUE(Fails("\n,\n", 0, "", "YAML parser cannot find the end"));
}

TEST(LoaderErrors, TopLevelIsNotAMap) {
  EXPECT_TRUE(Fails("- a\n- b\n", 1, "", "expected a map, got a list"));
  EXPECT_TRUE(Fails("\nhello\n", 2, "", "expected a map, got \"hello\""));
}

TEST(LoaderErrors, YamlSyntaxErrorCarriesYamlCppLine) {
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", " workers: 2"}), 2, "", "illegal map value"));
  EXPECT_TRUE(
      Fails(yaml({"listen: 127.0.0.1:8080", "routes: [ a,", "pools: 1"}), 4, "", "end of sequence flow not found"));
}

// yaml-cpp stops deep nesting with "bad file" alone; the error says what it
// is and where (issue 15, finding 15).
TEST(LoaderErrors, NestingTooDeepSaysSoWithTheLine) {
  std::string deep_map = "listen: 127.0.0.1:8080\nx:\n";
  for (int i = 1; i < 600; ++i) {
    deep_map += std::string(static_cast<size_t>(i) * 2, ' ') + "k:\n";
  }
  EXPECT_TRUE(Fails(deep_map, 500, "", "nested too deeply: the YAML parser stops at depth 500"));
  const std::string deep_flow = "listen: 127.0.0.1:8080\nx: " + std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(Fails(deep_flow, 2, "", "nested too deeply"));
}

TEST(LoaderErrors, UnquotedIPv6IsAYamlList) {
  // "[::1]:8080" must be quoted in YAML; unquoted, it is a flow list and the
  // user gets a syntax error rather than a wrong address.
  try {
    load_config_text(with_pools_and_routes({"listen: [::1]:8080"}), testing::kFile);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 1) << e.what();
  }
}

TEST(LoaderErrors, SecondDocument) {
  std::string text = with_pools_and_routes({"listen: 127.0.0.1:8080"});  // lines 1..6
  text += yaml({"---", "listen: 127.0.0.1:9000"});                       // lines 7..8
  EXPECT_TRUE(Fails(text, 8, "", "expected one YAML document"));
}

TEST(LoaderErrors, UnknownTopLevelKey) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "worker: 2"}), 2, "worker", "unknown key"));
}

TEST(LoaderErrors, UnknownKeyListsTheKnownOnes) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "route: []"}), 2, "route",
                    "unknown key; expected one of listen, workers, limits, pools, routes"));
}

TEST(LoaderErrors, DuplicateKey) {
  // yaml-cpp would keep the first and drop the second without a word.
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8081"}), 2, "listen",
                    "duplicate key; first given on line 1"));
}

TEST(LoaderErrors, KeyThatIsNotAString) {
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "[a, b]: 1"}), 2, "", "keys must be plain strings"));
}

// ------------------------------------------------------------ listen

TEST(LoaderErrors, ListenMissing) {
  EXPECT_TRUE(Fails(yaml({
                        "pools:",
                        "  chat:",
                        "    backends: [127.0.0.1:9001]",
                        "routes: [ { path: /chat, pool: chat } ]",
                    }),
                    1, "listen", "required key is missing"));
}

TEST(LoaderErrors, ListenInvalidAddress) {
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: nowhere"}), 1, "listen", "invalid address \"nowhere\": missing port"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: example.com:80"}), 1, "listen", "host names are not resolved"));
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: 127.0.0.1:0"}), 1, "listen", "port must be a number from 1 to 65535"));
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: 127.0.0.1:65536"}), 1, "listen", "port must be a number from 1 to 65535"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: \"::1:8080\""}), 1, "listen", "must be in brackets"));
}

TEST(LoaderErrors, ListenWrongType) {
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen:"}), 1, "listen", "expected an address like 127.0.0.1:8080, got nothing"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: { host: 127.0.0.1 }"}), 1, "listen.host",
                    "unknown key; expected one of address, tls"));
}

TEST(LoaderErrors, ListenEmptyList) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: []"}), 1, "listen", "expected at least one address"));
}

TEST(LoaderErrors, ListenListItem) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", "  - 127.0.0.1:8080", "  - [1]"}), 3, "listen[1]",
                    "expected an address like 127.0.0.1:8080, got a list"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", "  - 127.0.0.1:8080", "  - 1.2.3:4"}), 3, "listen[1]",
                    "not a valid IPv4 address"));
}

TEST(LoaderErrors, ListenDuplicate) {
  // localhost is 127.0.0.1: the same socket twice.
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen:", "  - 127.0.0.1:8080", "  - 127.0.0.1:8081", "  - localhost:8080"}), 4,
            "listen[2]", "127.0.0.1:8080 is already listed as listen[0]"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: [ \"[::1]:80\", \"[0::1]:80\" ]"}), 1, "listen[1]",
                    "[::1]:80 is already listed as listen[0]"));
}

// ------------------------------------------------------------ workers

TEST(LoaderErrors, WorkersOutOfRangeOrGarbage) {
  for (const std::string value : {"0", "65", "-1", "two", "1.5", "0x2", "+2", "Auto", "\"\""}) {
    const std::string got = value == "\"\"" ? "\"\"" : "\"" + value + "\"";
    EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "workers: " + value}), 2, "workers",
                      "expected an integer from 1 to 64 or \"auto\", got " + got));
  }
}

TEST(LoaderErrors, WorkersWrongType) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "workers: [2]"}), 2, "workers",
                    "expected an integer from 1 to 64 or \"auto\", got a list"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "workers:"}), 2, "workers", "got nothing"));
}

// ------------------------------------------------------------ limits

TEST(LoaderErrors, LimitsNotAMap) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits: 16MiB"}), 2, "limits",
                    "expected a map, got \"16MiB\""));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits: [1]"}), 2, "limits",
                    "expected a map, got a list"));
}

TEST(LoaderErrors, LimitsUnknownKey) {
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  max_message: 1MiB", "  max_msg: 1MiB"}), 4,
            "limits.max_msg", "unknown key"));
}

TEST(LoaderErrors, LimitsValues) {
  struct Case {
    std::string line;  // under "limits:", at line 3
    std::string key;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"max_message: sixteen", "max_message", "expected a size like 16KiB, got \"sixteen\""},
      {"max_message: 1.5MiB", "max_message", "expected a size like 16KiB, got \"1.5MiB\""},
      {"max_message: -1MiB", "max_message", "expected a size like 16KiB, got \"-1MiB\""},
      {"max_message: 16MB", "max_message", "expected a size like 16KiB, got \"16MB\""},
      {"max_message: 99999999999999999999GiB", "max_message", "expected a size like 16KiB"},
      {"max_message: 1023", "max_message", "expected a size from 1KiB to 1GiB, got \"1023\""},
      {"max_message: 1025MiB", "max_message", "expected a size from 1KiB to 1GiB, got \"1025MiB\""},
      {"max_message: { a: 1 }", "max_message", "expected a size like 16KiB, got a map"},
      {"max_fragments: 0", "max_fragments", "expected an integer from 1 to 1000000, got \"0\""},
      {"max_fragments: 1000001", "max_fragments", "expected an integer from 1 to 1000000"},
      {"max_fragments: many", "max_fragments", "expected an integer from 1 to 1000000, got \"many\""},
      {"max_fragments: 4.5", "max_fragments", "expected an integer from 1 to 1000000, got \"4.5\""},
      {"max_fragments: 99999999999999999999", "max_fragments", "expected an integer from 1 to"},
      {"max_header: 512B", "max_header", "expected a size from 1KiB to 1MiB, got \"512B\""},
      {"max_header: 2MiB", "max_header", "expected a size from 1KiB to 1MiB, got \"2MiB\""},
      {"max_header: lots", "max_header", "expected a size like 16KiB, got \"lots\""},
      {"handshake_timeout: 99ms", "handshake_timeout", "expected a duration from 100ms to 10m, got \"99ms\""},
      {"handshake_timeout: 11m", "handshake_timeout", "expected a duration from 100ms to 10m, got \"11m\""},
      {"handshake_timeout: 5", "handshake_timeout", "expected a duration like 5s"},
      {"handshake_timeout: soon", "handshake_timeout", "got \"soon\""},
      {"max_connections: 0", "max_connections", "expected an integer from 1 to 10000000, got \"0\""},
      {"max_connections: 10000001", "max_connections", "expected an integer from 1 to 10000000"},
      {"close_timeout: 50ms", "close_timeout", "expected a duration from 100ms to 10m"},
      {"close_timeout: 1.5s", "close_timeout", "expected a duration like 5s"},
      {"close_timeout: [1s]", "close_timeout", "expected a duration like 5s or 500ms, got a list"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(
        Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  " + c.line}), 3, "limits." + c.key, c.why))
        << c.line;
  }
}

// ------------------------------------------------------------ pools

TEST(LoaderErrors, PoolsMissing) {
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "routes: [ { path: /chat, pool: chat } ]"}), 1, "pools",
                    "required key is missing"));
}

TEST(LoaderErrors, PoolsEmptyOrWrongType) {
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools: {}"}), 2, "pools", "expected at least one pool"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:"}), 2, "pools", "expected a map, got nothing"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools: [ chat ]"}), 2, "pools", "expected a map, got a list"));
}

TEST(LoaderErrors, PoolName) {
  const std::string why = "a pool name must be 1 to 48 characters from A-Z a-z 0-9 _ . -";
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  my pool:", "    backends: [127.0.0.1:9001]"}), 3,
                    "pools.my pool", why));
  EXPECT_TRUE(
      Fails(with_listen_and_routes({"pools:", "  chat/1:", "    backends: [127.0.0.1:9001]"}), 3, "pools.chat/1", why));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  \"\":", "    backends: [127.0.0.1:9001]"}), 3, "pools.", why));
  const std::string long_name(49, 'a');
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  " + long_name + ":", "    backends: [127.0.0.1:9001]"}), 3,
                    "pools." + long_name, why));
}

TEST(LoaderErrors, PoolNameOfMaximumLengthIsFine) {
  const std::string name(48, 'a');
  EXPECT_NO_THROW(load_config_text(yaml({
                                       "listen: 127.0.0.1:8080",
                                       "pools:",
                                       "  " + name + ": { backends: [127.0.0.1:9001] }",
                                       "routes: [ { path: /, pool: " + name + " } ]",
                                   }),
                                   testing::kFile));
}

TEST(LoaderErrors, PoolDefinedTwice) {
  EXPECT_TRUE(Fails(with_listen_and_routes({
                        "pools:",
                        "  chat:",
                        "    backends: [127.0.0.1:9001]",
                        "  chat:",
                        "    backends: [127.0.0.1:9002]",
                    }),
                    5, "pools.chat", "duplicate key; first given on line 3"));
}

TEST(LoaderErrors, PoolNotAMap) {
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat: 127.0.0.1:9001"}), 3, "pools.chat",
                    "expected a map, got \"127.0.0.1:9001\""));
}

TEST(LoaderErrors, PoolUnknownKey) {
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backend: [127.0.0.1:9001]"}), 4,
                    "pools.chat.backend", "unknown key"));
}

TEST(LoaderErrors, PoolValues) {
  struct Case {
    std::string line;  // in pool "chat", at line 4, before its backends
    std::string key;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"balance: random", "balance", "expected least_conn or round_robin, got \"random\""},
      {"balance: [least_conn]", "balance", "expected least_conn or round_robin, got a list"},
      {"connect_timeout: 5ms", "connect_timeout", "expected a duration from 10ms to 10m, got \"5ms\""},
      {"connect_timeout: 601s", "connect_timeout", "expected a duration from 10ms to 10m"},
      {"connect_timeout: 2", "connect_timeout", "expected a duration like 5s or 500ms, got \"2\""},
      {"retries: -1", "retries", "expected an integer from 0 to 100, got \"-1\""},
      {"retries: 101", "retries", "expected an integer from 0 to 100, got \"101\""},
      {"retries: two", "retries", "expected an integer from 0 to 100, got \"two\""},
      {"fail_timeout: 2h", "fail_timeout", "expected a duration from 0ms to 1h, got \"2h\""},
      {"fail_timeout: 0", "fail_timeout", "expected a duration like 5s or 500ms, got \"0\""},
      {"fail_timeout: never", "fail_timeout", "expected a duration like 5s or 500ms, got \"never\""},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    " + c.line, "    backends: [127.0.0.1:9001]"}),
                      4, "pools.chat." + c.key, c.why))
        << c.line;
  }
}

TEST(LoaderErrors, BackendsMissing) {
  // A missing key has no line: the error points at the map that lacks it.
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    retries: 1"}), 4, "pools.chat.backends",
                    "required key is missing"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat: { retries: 1 }"}), 3, "pools.chat.backends",
                    "required key is missing"));
}

TEST(LoaderErrors, BackendsEmptyOrWrongType) {
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends: []"}), 4, "pools.chat.backends",
                    "expected at least one backend"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends: 127.0.0.1:9001"}), 4,
                    "pools.chat.backends",
                    "expected a list of backend addresses or {address, weight} maps, got "
                    "\"127.0.0.1:9001\""));
  EXPECT_TRUE(
      Fails(with_listen_and_routes({"pools:", "  chat:", "    backends:"}), 4, "pools.chat.backends", "got nothing"));
}

TEST(LoaderErrors, BackendAddress) {
  EXPECT_TRUE(Fails(
      with_listen_and_routes({"pools:", "  chat:", "    backends:", "      - 127.0.0.1:9001", "      - 127.0.0.1"}), 6,
      "pools.chat.backends[1]", "invalid address \"127.0.0.1\": missing port"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends:", "      - backend.local:9001"}), 5,
                    "pools.chat.backends[0]", "host names are not resolved"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends:", "      - { address: 127.0.0.1:0 }"}),
                    5, "pools.chat.backends[0].address", "port must be a number from 1 to 65535"));
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends:", "      - [ 127.0.0.1:9001 ]"}), 5,
                    "pools.chat.backends[0]", "expected an address like 127.0.0.1:8080, got a list"));
}

TEST(LoaderErrors, BackendMapKeys) {
  EXPECT_TRUE(Fails(with_listen_and_routes({"pools:", "  chat:", "    backends:", "      - { weight: 2 }"}), 5,
                    "pools.chat.backends[0].address", "required key is missing"));
  EXPECT_TRUE(Fails(with_listen_and_routes(
                        {"pools:", "  chat:", "    backends:", "      - address: 127.0.0.1:9001", "        wieght: 2"}),
                    6, "pools.chat.backends[0].wieght", "unknown key; expected one of address, weight"));
}

TEST(LoaderErrors, BackendWeight) {
  for (const std::string weight : {"0", "1001", "-1", "heavy", "1.5"}) {
    EXPECT_TRUE(Fails(
        with_listen_and_routes(
            {"pools:", "  chat:", "    backends:", "      - { address: 127.0.0.1:9001, weight: " + weight + " }"}),
        5, "pools.chat.backends[0].weight", "expected an integer from 1 to 1000, got \"" + weight + "\""));
  }
}

TEST(LoaderErrors, BackendTwiceInOnePool) {
  EXPECT_TRUE(Fails(with_listen_and_routes({
                        "pools:",
                        "  chat:",
                        "    backends:",
                        "      - 127.0.0.1:9001",
                        "      - 127.0.0.1:9002",
                        "      - { address: localhost:9001, weight: 3 }",
                    }),
                    7, "pools.chat.backends[2]",
                    "127.0.0.1:9001 is already a backend of this pool, at pools.chat.backends[0]"));
}

TEST(LoaderErrors, TooManyBackendsInTotal) {
  // 300 in pool a (lines 5..304) and 213 in pool b (lines 307..519): the
  // 513th backend overall is b's backends[212] on line 519.
  std::string text = "listen: 127.0.0.1:8080\npools:\n  a:\n    backends:\n";
  for (int i = 0; i < 300; ++i) {
    text += "      - 10.0.0." + std::to_string(i % 250) + ":" + std::to_string(1000 + i) + "\n";
  }
  text += "  b:\n    backends:\n";
  for (int i = 0; i < 213; ++i) {
    text += "      - 10.0.1." + std::to_string(i % 250) + ":" + std::to_string(1000 + i) + "\n";
  }
  text += "routes: [ { path: /, pool: a } ]\n";
  EXPECT_TRUE(Fails(text, 519, "pools.b.backends[212]", "more than 512 backends in total over all pools"));
}

// ------------------------------------------------------------ routes

TEST(LoaderErrors, RoutesMissing) {
  EXPECT_TRUE(Fails(with_listen_and_pools({}), 1, "routes", "required key is missing"));
}

TEST(LoaderErrors, RoutesEmptyOrWrongType) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes: []"}), 5, "routes", "expected at least one route"));
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes: { path: /chat, pool: chat }"}), 5, "routes",
                    "expected a list of routes like {path: /chat, pool: chat}, got a map"));
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:"}), 5, "routes", "got nothing"));
}

TEST(LoaderErrors, RouteNotAMap) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - /chat"}), 6, "routes[0]", "expected a map, got \"/chat\""));
}

TEST(LoaderErrors, RouteUnknownKey) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - { path: /chat, pool: chat, origin: x }"}), 6,
                    "routes[0].origin", "unknown key; expected one of path, pool, origins, validate_utf8"));
}

TEST(LoaderErrors, RouteDuplicateKey) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - path: /a", "    pool: chat", "    path: /b"}), 8,
                    "routes[0].path", "duplicate key; first given on line 6"));
}

TEST(LoaderErrors, RouteRequiredKeys) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - { path: /a, pool: chat }", "  - { pool: chat }"}), 7,
                    "routes[1].path", "required key is missing"));
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - path: /chat", "    validate_utf8: true"}), 6,
                    "routes[0].pool", "required key is missing"));
}

TEST(LoaderErrors, RoutePath) {
  struct Case {
    std::string path;  // as written in YAML
    std::string why;
  };
  const std::vector<Case> cases = {
      {"chat", "expected a path starting with '/', got \"chat\""},
      {"\"\"", "expected a path starting with '/', got \"\""},
      {"\"/chat?room=1\"", "a route path cannot contain '?' or '#', got \"/chat?room=1\""},
      {"\"/chat#top\"", "a route path cannot contain '?' or '#'"},
      {"\"/chat room\"", "a route path cannot contain whitespace, got \"/chat room\""},
      {"\"/chat\\t\"", "a route path cannot contain whitespace, got \"/chat\\x09\""},
      {"[ /chat ]", "expected a path like /chat, got a list"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(
        Fails(with_listen_and_pools({"routes:", "  - pool: chat", "    path: " + c.path}), 7, "routes[0].path", c.why))
        << c.path;
  }
}

TEST(LoaderErrors, RoutePathTwice) {
  EXPECT_TRUE(Fails(with_listen_and_pools({
                        "routes:",
                        "  - { path: /chat, pool: chat }",
                        "  - { path: /echo, pool: chat }",
                        "  - { path: /chat, pool: chat }",
                    }),
                    8, "routes[2].path", "\"/chat\" is already routed by routes[0]"));
}

TEST(LoaderErrors, RouteUndefinedPool) {
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - { path: /chat, pool: nope }"}), 6, "routes[0].pool",
                    "pool \"nope\" is not defined"));
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - path: /chat", "    pool: Chat"}), 7, "routes[0].pool",
                    "pool \"Chat\" is not defined"));
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - { path: /chat, pool: [chat] }"}), 6, "routes[0].pool",
                    "expected a pool name, got a list"));
}

TEST(LoaderErrors, RouteOrigins) {
  const auto route = [](const std::string& origins) {
    return with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    origins: " + origins});
  };
  EXPECT_TRUE(Fails(route("[]"), 8, "routes[0].origins", "expected at least one origin"));
  EXPECT_TRUE(Fails(route("https://a.example"), 8, "routes[0].origins",
                    "expected a list of origins like [\"https://a.example\"], got "
                    "\"https://a.example\""));
  EXPECT_TRUE(Fails(route("[ \"https://a.example\", \"\" ]"), 8, "routes[0].origins[1]",
                    "expected an origin like \"https://a.example\", got \"\""));
  EXPECT_TRUE(
      Fails(route("[ ~ ]"), 8, "routes[0].origins[0]", "expected an origin like \"https://a.example\", got nothing"));
  EXPECT_TRUE(Fails(route("[ \"https://a.example \" ]"), 8, "routes[0].origins[0]",
                    "expected an origin like \"https://a.example\", got \"https://a.example \""));
  EXPECT_TRUE(Fails(route("[ { a: 1 } ]"), 8, "routes[0].origins[0]", "got a map"));
}

TEST(LoaderErrors, RouteValidateUtf8) {
  for (const std::string value : {"yes", "on", "1", "y"}) {
    EXPECT_TRUE(
        Fails(with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    validate_utf8: " + value}), 8,
              "routes[0].validate_utf8", "expected true or false, got \"" + value + "\""));
  }
  EXPECT_TRUE(
      Fails(with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    validate_utf8: [true]"}), 8,
            "routes[0].validate_utf8", "expected true or false, got a list"));
}

TEST(LoaderErrors, RoutePingInterval) {
  const auto route = [](const std::string& value) {
    return with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    ping_interval: " + value});
  };
  const std::string expected = "expected 0s (off) or a duration from 1s to 1h, got ";
  for (const std::string value : {"500ms", "999ms", "61m", "2h", "30", "0", "-1s", "soon"}) {
    EXPECT_TRUE(Fails(route(value), 8, "routes[0].ping_interval", expected + "\"" + value + "\"")) << value;
  }
  EXPECT_TRUE(Fails(route("[30s]"), 8, "routes[0].ping_interval", "got a list"));
}

TEST(LoaderErrors, RoutePongTimeout) {
  const auto route = [](const std::string& interval, const std::string& timeout) {
    return with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    ping_interval: " + interval,
                                  "    pong_timeout: " + timeout});
  };
  EXPECT_TRUE(
      Fails(route("30s", "50ms"), 9, "routes[0].pong_timeout", "expected a duration from 100ms to 10m, got \"50ms\""));
  EXPECT_TRUE(
      Fails(route("1h", "11m"), 9, "routes[0].pong_timeout", "expected a duration from 100ms to 10m, got \"11m\""));
  EXPECT_TRUE(Fails(route("5s", "5s"), 9, "routes[0].pong_timeout",
                    "expected less than ping_interval (5s) so that a ping is answered before the "
                    "next one is due, got \"5s\""));
  EXPECT_TRUE(Fails(route("1s", "10s"), 9, "routes[0].pong_timeout", "expected less than ping_interval (1s)"));
  // The order of the keys does not matter.
  EXPECT_TRUE(Fails(with_listen_and_pools({"routes:", "  - path: /chat", "    pool: chat", "    pong_timeout: 2s",
                                           "    ping_interval: 2s"}),
                    8, "routes[0].pong_timeout", "expected less than ping_interval (2s)"));
}

// ------------------------------------------------------------ messages

TEST(LoaderErrors, LongValuesAreCutShortInMessages) {
  const std::string huge(10000, 'x');
  try {
    load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080", "workers: " + huge}), testing::kFile);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_LT(e.why().size(), 200u) << e.why();
    EXPECT_NE(e.why().find("...\""), std::string::npos) << e.why();
  }
}

}  // namespace
}  // namespace wsgate::conf
