// The fan-out keys: `streams`, `auth` blocks with their keys
// files, and routes that name them; valid and invalid. In each error test
// the n-th string of a yaml({...}) list is line n of the document.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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

Endpoint v4(const char* host, uint16_t port) { return Endpoint{host, port, false}; }

// Line 1 listen, 2 "streams:", 3 "  fx:", then `stream_lines` from line 4
// (indented by the caller, source included), then a route to fx.
std::string with_stream(std::initializer_list<std::string> stream_lines) {
  return yaml({"listen: 127.0.0.1:8080", "streams:", "  fx:"}) + yaml(stream_lines) +
         yaml({"routes: [ { path: /fx, stream: fx } ]"});
}

Stream load_stream(std::initializer_list<std::string> stream_lines) {
  return load_config_text(with_stream(stream_lines), kFile).streams.at(0);
}

constexpr const char* kSource = "    source: ws://127.0.0.1:9100/live";

// Line 1 listen, 2 a stream fx, 3 "auth:", 4 "  fxkeys:", then `auth_lines`
// from line 5, then a route to fx guarded by fxkeys.
std::string with_auth(std::initializer_list<std::string> auth_lines) {
  return yaml({"listen: 127.0.0.1:8080", "streams: { fx: { source: ws://127.0.0.1:9100/live } }",
               "auth:", "  fxkeys:"}) +
         yaml(auth_lines) + yaml({"routes: [ { path: /fx, stream: fx, auth: fxkeys } ]"});
}

// Line 1 listen, 2 a pool chat, 3 a stream fx, 4 "routes:", routes from line 5.
std::string with_routes(std::initializer_list<std::string> routes) {
  return yaml({"listen: 127.0.0.1:8080", "pools: { chat: { backends: [127.0.0.1:9001] } }",
               "streams: { fx: { source: ws://127.0.0.1:9100/live } }", "routes:"}) +
         yaml(routes);
}

// The error loading `text` raises; a test fails if there is none.
ConfigError error_of(const std::string& text, const std::string& file = kFile) {
  try {
    load_config_text(text, file);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "loaded without an error";
  return ConfigError("", 0, "", "");
}

// A fresh temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "wsgate-auth-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `name` (which may have directories) and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
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

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// ------------------------------------------------------------ streams: valid

TEST(Streams, EveryKeyRoundTrips) {
  const ScopedEnv key("WSGATE_TEST_FX_KEY", "k-123");
  const TempDir dir;
  const std::string keys = dir.write("fx.keys", "alpha\nbeta\n");
  const Config c = load_config_text(yaml({
                                        "listen: 127.0.0.1:8080",
                                        "streams:",
                                        "  fx:",
                                        "    source:",
                                        "      - ws://127.0.0.1:9100/live",
                                        "      - ws://localhost/backup?feed=fx",
                                        "    channels: per_path",
                                        "    on_connect_send:",
                                        "      - '{\"userKey\":\"${WSGATE_TEST_FX_KEY}\",\"symbol\":\"EURUSD\"}'",
                                        "      - '{\"subscribe\":\"${path}\"}'",
                                        "    history: 100",
                                        "    ring: 8MiB",
                                        "    subscriber_queue: 256KiB",
                                        "    slow_subscriber: close",
                                        "    client_messages: close",
                                        "    linger: 1m",
                                        "    always_on: false",
                                        "    max_channels: 16",
                                        "    connect_timeout: 750ms",
                                        "    backoff_max: 20s",
                                        "auth:",
                                        "  fxkeys:",
                                        "    keys_file: " + keys,
                                        "    from: first_message",
                                        "    field: userKey",
                                        "    timeout: 3s",
                                        "routes:",
                                        "  - { path: /fx, stream: fx, auth: fxkeys, origins: [\"https://a.example\"] }",
                                        "  - { path: /open, stream: fx, validate_utf8: false }",
                                    }),
                                    kFile);
  EXPECT_TRUE(c.pools.empty());
  ASSERT_EQ(c.streams.size(), 1u);
  const Stream& s = c.streams[0];
  EXPECT_EQ(s.name, "fx");
  ASSERT_EQ(s.sources.size(), 2u);
  EXPECT_EQ(s.sources[0].text, "ws://127.0.0.1:9100/live");
  EXPECT_EQ(s.sources[0].endpoint, v4("127.0.0.1", 9100));
  EXPECT_EQ(s.sources[0].host, "127.0.0.1:9100");
  EXPECT_EQ(s.sources[0].path, "/live");
  EXPECT_EQ(s.sources[1].text, "ws://localhost/backup?feed=fx");
  EXPECT_EQ(s.sources[1].endpoint, (Endpoint{"", 80, false}));  // a name: resolved by the feeder
  EXPECT_EQ(s.sources[1].name, "localhost");
  EXPECT_EQ(s.sources[1].host, "localhost");
  EXPECT_EQ(s.sources[1].path, "/backup?feed=fx");
  EXPECT_EQ(s.channels, ChannelMode::per_path);
  EXPECT_EQ(s.on_connect_send,
            (std::vector<std::string>{"{\"userKey\":\"k-123\",\"symbol\":\"EURUSD\"}", "{\"subscribe\":\"${path}\"}"}));
  EXPECT_EQ(s.history, 100u);
  EXPECT_EQ(s.ring, 8 * MiB);
  EXPECT_EQ(s.subscriber_queue, 256 * KiB);
  EXPECT_EQ(s.slow_subscriber, SlowPolicy::close);
  EXPECT_EQ(s.client_messages, ClientMessages::close);
  EXPECT_EQ(s.linger, minutes(1));
  EXPECT_FALSE(s.always_on);
  EXPECT_EQ(s.max_channels, 16u);
  EXPECT_EQ(s.connect_timeout, milliseconds(750));
  EXPECT_EQ(s.backoff_max, seconds(20));

  ASSERT_EQ(c.auths.size(), 1u);
  const Auth& a = c.auths[0];
  EXPECT_EQ(a.name, "fxkeys");
  EXPECT_EQ(a.keys_file, keys);
  EXPECT_EQ(a.from, AuthFrom::first_message);
  EXPECT_EQ(a.field, "userKey");
  EXPECT_EQ(a.timeout, seconds(3));
  EXPECT_EQ(a.keys, (std::vector<std::string>{"alpha", "beta"}));

  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_TRUE(c.routes[0].is_stream());
  EXPECT_EQ(c.routes[0].stream, "fx");
  EXPECT_EQ(c.routes[0].stream_index, 0u);
  EXPECT_TRUE(c.routes[0].pool.empty());
  EXPECT_EQ(c.routes[0].auth, "fxkeys");
  EXPECT_EQ(c.routes[0].auth_index, std::optional<size_t>(0));
  EXPECT_EQ(c.routes[0].origins, (std::vector<std::string>{"https://a.example"}));
  EXPECT_TRUE(c.routes[0].validate_utf8);
  EXPECT_TRUE(c.routes[1].auth.empty());
  EXPECT_FALSE(c.routes[1].auth_index.has_value());
  EXPECT_FALSE(c.routes[1].validate_utf8);
}

TEST(Streams, DefaultsMatchTheReference) {
  const Stream s = load_stream({kSource});
  const Stream reference;
  EXPECT_EQ(s.channels, ChannelMode::single);
  EXPECT_TRUE(s.on_connect_send.empty());
  EXPECT_EQ(s.history, 0u);
  EXPECT_EQ(s.ring, 4 * MiB);
  EXPECT_EQ(s.subscriber_queue, 1 * MiB);
  EXPECT_EQ(s.slow_subscriber, SlowPolicy::drop_oldest);
  EXPECT_EQ(s.client_messages, ClientMessages::drop);
  EXPECT_EQ(s.linger, seconds(30));
  EXPECT_FALSE(s.always_on);
  EXPECT_EQ(s.max_channels, 1u) << "a single stream has one channel";
  EXPECT_EQ(s.connect_timeout, seconds(5));
  EXPECT_EQ(s.backoff_max, seconds(10));
  EXPECT_EQ(s.ring, reference.ring);
  EXPECT_EQ(s.linger, reference.linger);
  EXPECT_EQ(reference.max_channels, 64u);
}

TEST(Streams, PerPathDefaultsToSixtyFourChannels) {
  EXPECT_EQ(load_stream({kSource, "    channels: per_path"}).max_channels, 64u);
}

TEST(Streams, MaxChannelsPerIpDefaultsToEightAndIsRead) {
  EXPECT_EQ(load_stream({kSource, "    channels: per_path"}).max_channels_per_ip, 8u);
  EXPECT_EQ(load_stream({kSource, "    channels: per_path", "    max_channels_per_ip: 3"}).max_channels_per_ip, 3u);
  EXPECT_EQ(load_stream({kSource, "    channels: per_path", "    max_channels_per_ip: 256"}).max_channels_per_ip, 256u);
  EXPECT_TRUE(Fails(with_stream({kSource, "    channels: per_path", "    max_channels_per_ip: 0"}), 6,
                    "streams.fx.max_channels_per_ip", "expected an integer from 1 to 256"));
  EXPECT_TRUE(Fails(with_stream({kSource, "    max_channels_per_ip: 2"}), 5, "streams.fx.max_channels_per_ip",
                    "a single stream has one"));
}

TEST(Streams, SingleAlwaysOnAndOneChannelAreFine) {
  const Stream s = load_stream({kSource, "    always_on: true", "    max_channels: 1"});
  EXPECT_TRUE(s.always_on);
  EXPECT_EQ(s.max_channels, 1u);
}

TEST(Streams, SourceUrlForms) {
  struct Case {
    std::string url;
    Endpoint endpoint;
    std::string host;
    std::string path;
  };
  const std::vector<Case> cases = {
      {"ws://127.0.0.1:9100/live", v4("127.0.0.1", 9100), "127.0.0.1:9100", "/live"},
      {"ws://127.0.0.1", v4("127.0.0.1", 80), "127.0.0.1", "/"},
      {"ws://127.0.0.1:9100?symbol=EURUSD", v4("127.0.0.1", 9100), "127.0.0.1:9100", "/?symbol=EURUSD"},
      {"ws://LocalHost:9100/a/b?x=1&y=2", Endpoint{"", 9100, false}, "LocalHost:9100", "/a/b?x=1&y=2"},
      {"ws://feed.example.com/live", Endpoint{"", 80, false}, "feed.example.com", "/live"},
      {"wss://feed.example.com/live", Endpoint{"", 443, false}, "feed.example.com", "/live"},
      {"wss://127.0.0.1:9443/live", v4("127.0.0.1", 9443), "127.0.0.1:9443", "/live"},
      {"WS://10.0.0.1/", v4("10.0.0.1", 80), "10.0.0.1", "/"},
      {"\"ws://[::1]:9100/v6\"", Endpoint{"::1", 9100, true}, "[::1]:9100", "/v6"},
      {"\"ws://[::1]/v6\"", Endpoint{"::1", 80, true}, "[::1]", "/v6"},
  };
  for (const Case& c : cases) {
    const Stream s = load_stream({"    source: " + c.url});
    ASSERT_EQ(s.sources.size(), 1u) << c.url;
    EXPECT_EQ(s.sources[0].endpoint, c.endpoint) << c.url;
    EXPECT_EQ(s.sources[0].host, c.host) << c.url;
    EXPECT_EQ(s.sources[0].path, c.path) << c.url;
  }
}

TEST(Streams, RangeBoundsAreInclusive) {
  const Stream low =
      load_stream({kSource, "    channels: per_path", "    history: 0", "    ring: 64KiB", "    subscriber_queue: 4KiB",
                   "    linger: 0ms", "    max_channels: 1", "    connect_timeout: 10ms", "    backoff_max: 100ms"});
  EXPECT_EQ(low.ring, 64 * KiB);
  EXPECT_EQ(low.subscriber_queue, 4 * KiB);
  EXPECT_EQ(low.max_channels, 1u);
  EXPECT_EQ(low.connect_timeout, milliseconds(10));
  const Stream high = load_stream({kSource, "    channels: per_path", "    history: 100000", "    ring: 16MiB",
                                   "    subscriber_queue: 1GiB", "    linger: 24h", "    max_channels: 256",
                                   "    connect_timeout: 10m", "    backoff_max: 1h"});
  EXPECT_EQ(high.history, 100000u);
  EXPECT_EQ(high.subscriber_queue, GiB);
  EXPECT_EQ(high.linger, hours(24));
  EXPECT_EQ(high.max_channels, 256u);
  EXPECT_EQ(high.backoff_max, hours(1));
  EXPECT_EQ(load_stream({kSource, "    ring: 1GiB"}).ring, GiB);
}

TEST(Streams, EmptySectionsMeanNone) {
  const Config c = load_config_text(with_routes({"  - { path: /chat, pool: chat }"}) + "auth:\n", kFile);
  EXPECT_TRUE(c.auths.empty());
  const Config d =
      load_config_text("streams:\n" + yaml({"listen: 127.0.0.1:8080", "pools: { chat: { backends: [127.0.0.1:9001] } }",
                                            "routes: [ { path: /chat, pool: chat } ]"}),
                       kFile);
  EXPECT_TRUE(d.streams.empty());
}

// ------------------------------------------------------------ on_connect_send

TEST(OnConnectSend, SingleStringAndEnvironment) {
  const ScopedEnv a("WSGATE_TEST_A", "1");
  const ScopedEnv b("WSGATE_TEST_B", "two");
  const Stream s =
      load_stream({kSource, "    on_connect_send: '${WSGATE_TEST_A}-${WSGATE_TEST_B}:$${WSGATE_TEST_A}$x'"});
  // "$$" is not special: the second '$' still starts ${...}.
  EXPECT_EQ(s.on_connect_send, (std::vector<std::string>{"1-two:$1$x"}));
}

TEST(OnConnectSend, PathIsLeftForTheFeederAndEmptyListIsFine) {
  const ScopedEnv key("WSGATE_TEST_A", "k");
  EXPECT_EQ(load_stream({kSource, "    on_connect_send: [ '{\"sub\":\"${path}\",\"k\":\"${WSGATE_TEST_A}\"}' ]"})
                .on_connect_send,
            (std::vector<std::string>{"{\"sub\":\"${path}\",\"k\":\"k\"}"}));
  EXPECT_TRUE(load_stream({kSource, "    on_connect_send: []"}).on_connect_send.empty());
}

TEST(OnConnectSend, UnsetVariableNamesTheKey) {
  unsetenv("WSGATE_TEST_UNSET");
  EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send:", "      - hello",
                                 "      - '{\"userKey\":\"${WSGATE_TEST_UNSET}\"}'"}),
                    7, "streams.fx.on_connect_send[1]", "environment variable WSGATE_TEST_UNSET is not set"));
  EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send: 'x${WSGATE_TEST_UNSET}'"}), 5,
                    "streams.fx.on_connect_send", "environment variable WSGATE_TEST_UNSET is not set"));
}

TEST(OnConnectSend, MalformedVariables) {
  EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send: 'ab${FX_KEY'"}), 5, "streams.fx.on_connect_send",
                    "the \"${\" at offset 2 has no closing '}'"));
  for (const std::string text : {"'${}'", "'${1X}'", "'${A B}'", "'${A-B}'"}) {
    EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send: " + text}), 5, "streams.fx.on_connect_send",
                      "the \"${\" at offset 0 is not followed by a variable name"))
        << text;
  }
  EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send: [ [a] ]"}), 5, "streams.fx.on_connect_send[0]",
                    "expected a message (a string), got a list"));
}

TEST(OnConnectSend, Limits) {
  std::string list = "    on_connect_send: [";
  for (int i = 0; i < 65; ++i) {
    list += std::string(i == 0 ? "" : ",") + " m" + std::to_string(i);
  }
  EXPECT_TRUE(Fails(with_stream({kSource, list + " ]"}), 5, "streams.fx.on_connect_send[64]", "more than 64 messages"));
  const ScopedEnv big("WSGATE_TEST_BIG", std::string(64 * 1024, 'x').c_str());
  EXPECT_EQ(load_stream({kSource, "    on_connect_send: '${WSGATE_TEST_BIG}'"}).on_connect_send.at(0).size(),
            64u * 1024);
  EXPECT_TRUE(Fails(with_stream({kSource, "    on_connect_send: '${WSGATE_TEST_BIG}!'"}), 5,
                    "streams.fx.on_connect_send",
                    "a message may be at most 64KiB, this one is 65537 bytes once expanded"));
}

// ------------------------------------------------------------ streams: errors

TEST(Streams, WssSourcesByName) {
  const Stream s = load_stream({"    source:", "      - WSS://Feed.Example.com/feedadv", "      - ws://127.0.0.1:9100/live"});
  ASSERT_EQ(s.sources.size(), 2u);
  EXPECT_TRUE(s.sources[0].tls);
  EXPECT_EQ(s.sources[0].name, "feed.example.com");
  EXPECT_EQ(s.sources[0].host_name(), "feed.example.com");
  EXPECT_EQ(s.sources[0].endpoint.port, 443);
  EXPECT_FALSE(s.sources[1].tls);
  EXPECT_EQ(s.sources[1].host_name(), "127.0.0.1");
  EXPECT_TRUE(s.tls.verify);
}

TEST(StreamErrors, SourceUrls) {
  struct Case {
    std::string url;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"http://127.0.0.1:9100/", "expected a URL like ws://127.0.0.1:9100/live or wss://feed.example.com/live, got \"http://"},
      {"127.0.0.1:9100", "expected a URL like ws://127.0.0.1:9100/live"},
      {"ws:///live", "missing host in \"ws:///live\""},
      {"ws://feed_example:9100/live", "invalid host name \"feed_example\" in \"ws://feed_example:9100/live\""},
      {"ws://feed.example:0/live", "invalid port in \"ws://feed.example:0/live\": port must be a number from 1 to 65535"},
      {"ws://127.0.0.1:0/", "port must be a number from 1 to 65535"},
      {"ws://127.0.0.1:/", "missing port after ':'"},
      {"\"ws://::1:9100/\"", "an IPv6 address must be in brackets"},
      {"\"ws://127.0.0.1/a b\"", "a source URL cannot contain whitespace"},
      {"\"ws://127.0.0.1/a#b\"", "a source URL cannot contain '#'"},
      {"[]", "expected at least one URL like ws://127.0.0.1:9100/live"},
      {"{ url: x }", "or wss://feed.example.com/live, got a map"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(Fails(with_stream({"    source: " + c.url}), 4, "streams.fx.source", c.why)) << c.url;
  }
}

TEST(StreamErrors, SourceCredentialsAreRefusedWithoutQuoting) {
  const ConfigError e = error_of(with_stream({"    source: ws://user:hunter2@127.0.0.1/"}));
  EXPECT_EQ(e.key(), "streams.fx.source");
  EXPECT_EQ(e.why(), "a source URL cannot carry a user name or password");
  EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
}

TEST(StreamErrors, SourceListLimits) {
  std::string list = "    source: [";
  for (int i = 0; i < 17; ++i) {
    list += std::string(i == 0 ? "" : ",") + " ws://127.0.0.1:" + std::to_string(9100 + i) + "/";
  }
  EXPECT_TRUE(Fails(with_stream({list + " ]"}), 4, "streams.fx.source[16]", "more than 16 sources"));
  EXPECT_TRUE(Fails(with_stream({"    source: [ ws://127.0.0.1/a, ws://127.0.0.1/b, ws://127.0.0.1/a ]"}), 4,
                    "streams.fx.source[2]", "\"ws://127.0.0.1/a\" is already listed as streams.fx.source[0]"));
  EXPECT_TRUE(Fails(with_stream({"    channels: single"}), 4, "streams.fx.source", "required key is missing"));
}

TEST(StreamErrors, EnumValues) {
  struct Case {
    std::string line;
    std::string key;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"channels: perpath", "channels", "expected single or per_path, got \"perpath\""},
      {"channels: [single]", "channels", "expected single or per_path, got a list"},
      {"slow_subscriber: drop", "slow_subscriber", "expected drop_oldest or close, got \"drop\""},
      {"client_messages: ignore", "client_messages", "expected drop or close, got \"ignore\""},
      {"always_on: yes", "always_on", "expected true or false, got \"yes\""},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(Fails(with_stream({kSource, "    " + c.line}), 5, "streams.fx." + c.key, c.why)) << c.line;
  }
}

TEST(StreamErrors, Ranges) {
  struct Case {
    std::string line;
    std::string key;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"history: 100001", "history", "expected an integer from 0 to 100000"},
      {"history: -1", "history", "expected an integer from 0 to 100000"},
      {"ring: 32KiB", "ring", "expected a size from 64KiB to 1GiB, got \"32KiB\""},
      {"ring: 2GiB", "ring", "expected a size from 64KiB to 1GiB"},
      {"subscriber_queue: 2KiB", "subscriber_queue", "expected a size from 4KiB to 1GiB"},
      {"linger: 25h", "linger", "expected a duration from 0ms to 24h, got \"25h\""},
      {"linger: 30", "linger", "expected a duration like 5s or 500ms"},
      {"connect_timeout: 5ms", "connect_timeout", "expected a duration from 10ms to 10m"},
      {"backoff_max: 50ms", "backoff_max", "expected a duration from 100ms to 1h"},
      {"max_channels: 0", "max_channels", "expected an integer from 1 to 256"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(
        Fails(with_stream({kSource, "    channels: per_path", "    " + c.line}), 6, "streams.fx." + c.key, c.why))
        << c.line;
  }
  EXPECT_TRUE(Fails(with_stream({kSource, "    channels: per_path", "    max_channels: 257"}), 6,
                    "streams.fx.max_channels", "expected an integer from 1 to 256, got \"257\""));
}

TEST(StreamErrors, AlwaysOnNeedsASingleChannel) {
  EXPECT_TRUE(Fails(with_stream({kSource, "    channels: per_path", "    always_on: true"}), 6, "streams.fx.always_on",
                    "always_on needs channels: single"));
  // Order in the document does not matter.
  EXPECT_TRUE(Fails(with_stream({kSource, "    always_on: true", "    channels: per_path"}), 5, "streams.fx.always_on",
                    "always_on needs channels: single"));
  EXPECT_NO_THROW(load_stream({kSource, "    channels: per_path", "    always_on: false"}));
}

TEST(StreamErrors, MaxChannelsWithSingle) {
  EXPECT_TRUE(Fails(with_stream({kSource, "    max_channels: 2"}), 5, "streams.fx.max_channels",
                    "a single stream has exactly one channel; use channels: per_path for more"));
  EXPECT_TRUE(Fails(with_stream({kSource, "    channels: single", "    max_channels: 64"}), 6,
                    "streams.fx.max_channels", "a single stream has exactly one channel"));
}

TEST(StreamErrors, NameUnknownKeyAndShape) {
  const std::string why = "a stream name must be 1 to 48 characters from A-Z a-z 0-9 _ . -";
  EXPECT_TRUE(
      Fails(yaml({"listen: 127.0.0.1:8080", "streams:", "  f x:", kSource, "routes: [ { path: /fx, stream: fx } ]"}), 3,
            "streams.f x", why));
  EXPECT_TRUE(Fails(with_stream({kSource, "    rings: 4MiB"}), 5, "streams.fx.rings",
                    "unknown key; expected one of source, channels, on_connect_send"));
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "streams: [ fx ]", "routes: [ { path: /fx, stream: fx } ]"}), 2,
                    "streams", "expected a map, got a list"));
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "streams:", "  fx:", "routes: [ { path: /fx, stream: fx } ]"}), 3,
                    "streams.fx", "expected a map, got nothing"));
}

TEST(StreamErrors, TotalChannels) {
  const auto streams = [](const std::string& third) {
    return yaml({"listen: 127.0.0.1:8080",
                 "streams:", "  a: { source: ws://127.0.0.1:9100/, channels: per_path, max_channels: 128 }",
                 "  b: { source: ws://127.0.0.1:9101/, channels: per_path, max_channels: 127 }", third,
                 "routes: [ { path: /a, stream: a } ]"});
  };
  const Config ok = load_config_text(streams("  c: { source: ws://127.0.0.1:9102/ }"), kFile);
  EXPECT_EQ(ok.streams.size(), 3u);  // 128 + 127 + 1 = 256
  EXPECT_TRUE(Fails(streams("  c: { source: ws://127.0.0.1:9102/, channels: per_path, max_channels: 2 }"), 5,
                    "streams.c", "more than 256 channels in total over all streams"));
}

TEST(StreamErrors, TotalRings) {
  const auto streams = [](const std::string& second) {
    return yaml({"listen: 127.0.0.1:8080",
                 "streams:", "  a: { source: ws://127.0.0.1:9100/, channels: per_path, max_channels: 3, ring: 1GiB }",
                 second, "routes: [ { path: /a, stream: a } ]"});
  };
  EXPECT_NO_THROW(load_config_text(streams("  b: { source: ws://127.0.0.1:9101/, ring: 1GiB }"), kFile));
  EXPECT_TRUE(Fails(streams("  b: { source: ws://127.0.0.1:9101/, channels: per_path, "
                            "max_channels: 2, ring: 513MiB }"),
                    4, "streams.b", "more than 4GiB of rings in total over all streams (ring x channels)"));
}

TEST(StreamErrors, MoreThanThirtyTwoStreams) {
  std::string text = "listen: 127.0.0.1:8080\nstreams:\n";
  for (int i = 0; i < 33; ++i) {
    text += "  s" + std::to_string(i) + ": { source: ws://127.0.0.1:9100/, ring: 64KiB }\n";
  }
  text += "routes: [ { path: /, stream: s0 } ]\n";
  EXPECT_TRUE(Fails(text, 35, "streams.s32", "more than 32 streams"));
}

// ------------------------------------------------------------ routes

TEST(StreamRoutes, PoolsAreOptionalWhenEveryRouteIsAStream) {
  const Config c = load_config_text(yaml({"listen: 127.0.0.1:8080", "streams: { fx: { source: ws://127.0.0.1:9100/ } }",
                                          "routes: [ { path: /fx, stream: fx } ]"}),
                                    kFile);
  EXPECT_TRUE(c.pools.empty());
  EXPECT_EQ(c.routes.at(0).stream_index, 0u);
  // A pool route still needs `pools`; the document lacks it.
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "streams: { fx: { source: ws://127.0.0.1:9100/ } }",
                          "routes: [ { path: /fx, stream: fx }, { path: /chat, pool: chat } ]"}),
                    1, "pools", "required key is missing"));
}

TEST(StreamRoutes, MixedRoutesResolveTheirIndexes) {
  const TempDir dir;
  const std::string keys = dir.write("k", "one\n");
  const Config c = load_config_text(
      yaml({"listen: 127.0.0.1:8080", "pools: { chat: { backends: [127.0.0.1:9001] } }",
            "streams:", "  a: { source: ws://127.0.0.1:9100/ }", "  b: { source: ws://127.0.0.1:9101/ }",
            "auth:", "  k1: { keys_file: " + keys + " }", "  k2: { keys_file: " + keys + ", from: query }",
            "routes:", "  - { path: /chat, pool: chat, auth: k2 }", "  - { path: /b, stream: b, auth: k1 }"}),
      kFile);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_FALSE(c.routes[0].is_stream());
  EXPECT_EQ(c.routes[0].pool_index, 0u);
  EXPECT_EQ(c.routes[0].auth_index, std::optional<size_t>(1));
  EXPECT_EQ(c.routes[0].auth, "k2");
  EXPECT_TRUE(c.routes[1].is_stream());
  EXPECT_EQ(c.routes[1].stream, "b");
  EXPECT_EQ(c.routes[1].stream_index, 1u);
  EXPECT_EQ(c.routes[1].auth_index, std::optional<size_t>(0));
}

TEST(StreamRoutes, BothPoolAndStream) {
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, pool: chat, stream: fx }"}), 5, "routes[0]",
                    "a route has either a pool or a stream, not both"));
}

TEST(StreamRoutes, NeitherPoolNorStream) {
  EXPECT_TRUE(Fails(with_routes({"  - { path: /chat, pool: chat }", "  - path: /x", "    validate_utf8: false"}), 6,
                    "routes[1].pool", "required key is missing; a route needs a pool or a stream"));
}

TEST(StreamRoutes, UnknownStreamOrAuth) {
  EXPECT_TRUE(
      Fails(with_routes({"  - { path: /x, stream: nope }"}), 5, "routes[0].stream", "stream \"nope\" is not defined"));
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, stream: [fx] }"}), 5, "routes[0].stream",
                    "expected a stream name, got a list"));
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, stream: fx, auth: nope }"}), 5, "routes[0].auth",
                    "auth \"nope\" is not defined"));
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, pool: chat, auth: nope }"}), 5, "routes[0].auth",
                    "auth \"nope\" is not defined"));
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, pool: chat, auth: {} }"}), 5, "routes[0].auth",
                    "expected an auth name, got a map"));
}

TEST(StreamRoutes, UnknownKeyListsStreamAndAuth) {
  EXPECT_TRUE(Fails(with_routes({"  - { path: /x, stream: fx, auht: a }"}), 5, "routes[0].auht",
                    "unknown key; expected one of path, pool, origins, validate_utf8, stream, auth"));
}

// ------------------------------------------------------------ auth

TEST(Auth, DefaultsAndKeysFileParsing) {
  const TempDir dir;
  const std::string keys = dir.write("fx.keys",
                                     "# FX API keys\n\n  alpha  \n\tbeta\r\n#gamma\n   # indented comment\nalpha\n"
                                     "x!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\nlast-without-newline");
  const Config c = load_config_text(with_auth({"    keys_file: " + keys}), kFile);
  ASSERT_EQ(c.auths.size(), 1u);
  const Auth& a = c.auths[0];
  EXPECT_EQ(a.from, AuthFrom::header);
  EXPECT_EQ(a.field, "key");
  EXPECT_EQ(a.timeout, seconds(10));
  // Trimmed, comments and blanks skipped, a repeat kept once, in file order.
  EXPECT_EQ(a.keys,
            (std::vector<std::string>{"alpha", "beta", "x!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "last-without-newline"}));
}

TEST(Auth, KeyOfMaximumLengthIsFine) {
  const TempDir dir;
  const std::string keys = dir.write("k", std::string(256, 'k') + "\n");
  EXPECT_EQ(load_config_text(with_auth({"    keys_file: " + keys}), kFile).auths[0].keys[0].size(), 256u);
}

TEST(Auth, BadKeysNameTheFileLine) {
  const TempDir dir;
  struct Case {
    std::string text;
    std::string why;  // after "PATH:"
  };
  const std::vector<Case> cases = {
      {"good\n\n# c\nbad key\n", "4: a key may not contain spaces"},
      {"bad\tkey\n", "1: a key may not contain spaces"},
      {"ok\n" + std::string(257, 'k') + "\n", "2: a key may be at most 256 bytes"},
      {"ok\r\nk\x01y\r\n", "2: a key must be printable ASCII"},
      {"caf\xc3\xa9\n", "1: a key must be printable ASCII"},
  };
  for (const Case& c : cases) {
    const std::string keys = dir.write("bad.keys", c.text);
    EXPECT_TRUE(Fails(with_auth({"    from: header", "    keys_file: " + keys}), 6, "auth.fxkeys.keys_file",
                      keys + ":" + c.why))
        << c.why;
  }
}

// An endless file (or any over the bound) is an error naming the file and
// the bound, not a read until memory runs out (issue 15, finding 14).
TEST(Auth, AnEndlessOrHugeKeysFileIsRefusedNamingFileAndLimit) {
  EXPECT_TRUE(Fails(with_auth({"    keys_file: /dev/zero"}), 5, "auth.fxkeys.keys_file",
                    "cannot read keys file /dev/zero: it holds more than 16MiB, the most wsgate reads from a file "
                    "the config names"));
  const TempDir dir;
  const std::string huge = dir.write("huge.keys", std::string(16 * 1024 * 1024 + 1, 'k'));
  EXPECT_TRUE(Fails(with_auth({"    keys_file: " + huge}), 5, "auth.fxkeys.keys_file",
                    "cannot read keys file " + huge + ": it holds more than 16MiB"));
}

TEST(Auth, MissingOrEmptyKeysFile) {
  const TempDir dir;
  const std::string missing = dir.path() + "/nope.keys";
  EXPECT_TRUE(Fails(with_auth({"    keys_file: " + missing}), 5, "auth.fxkeys.keys_file",
                    "cannot read keys file " + missing + ": No such file or directory"));
  EXPECT_TRUE(Fails(with_auth({"    keys_file: " + dir.path()}), 5, "auth.fxkeys.keys_file",
                    "cannot read keys file " + dir.path() + ": Is a directory"));
  for (const std::string text : {"", "\n\n", "# only\n  # comments\n\n"}) {
    const std::string keys = dir.write("empty.keys", text);
    EXPECT_TRUE(
        Fails(with_auth({"    keys_file: " + keys}), 5, "auth.fxkeys.keys_file", "keys file " + keys + " has no keys"))
        << text;
  }
  EXPECT_TRUE(Fails(with_auth({"    from: query"}), 5, "auth.fxkeys.keys_file", "required key is missing"));
  EXPECT_TRUE(Fails(with_auth({"    keys_file: \"\""}), 5, "auth.fxkeys.keys_file",
                    "expected a path like /etc/wsgate/fx.keys"));
}

TEST(Auth, RelativeKeysFileResolvesAgainstTheConfigDirectory) {
  const TempDir dir;
  dir.write("etc/keys/fx.keys", "from-config-dir\n");
  const std::string config =
      dir.write("etc/wsgate.yaml", with_auth({"    keys_file: keys/fx.keys", "    from: query", "    field: api_key"}));
  const Config c = load_config(config);
  ASSERT_EQ(c.auths.size(), 1u);
  EXPECT_EQ(c.auths[0].keys_file, "keys/fx.keys") << "kept as written";
  EXPECT_EQ(c.auths[0].keys, (std::vector<std::string>{"from-config-dir"}));
  EXPECT_EQ(c.auths[0].from, AuthFrom::query);
  EXPECT_EQ(c.auths[0].field, "api_key");

  // The same text under another directory looks there, and says where it looked.
  const std::string elsewhere = dir.write("other/wsgate.yaml", with_auth({"    keys_file: keys/fx.keys"}));
  try {
    load_config(elsewhere);
    FAIL() << "loaded without an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), elsewhere);
    EXPECT_EQ(e.key(), "auth.fxkeys.keys_file");
    EXPECT_EQ(e.why(), "cannot read keys file " + dir.path() + "/other/keys/fx.keys: No such file or directory");
  }
}

TEST(AuthErrors, FromFieldAndTimeout) {
  const TempDir dir;
  const std::string keys = "    keys_file: " + dir.write("k", "key\n");
  EXPECT_TRUE(Fails(with_auth({keys, "    from: cookie"}), 6, "auth.fxkeys.from",
                    "expected header, query, first_message or client_cert, got \"cookie\""));
  EXPECT_TRUE(Fails(with_auth({keys, "    field: token"}), 6, "auth.fxkeys.field",
                    "field applies only to from: query and from: first_message"));
  EXPECT_TRUE(Fails(with_auth({keys, "    field: token", "    from: header"}), 6, "auth.fxkeys.field",
                    "field applies only to from: query"));
  EXPECT_TRUE(Fails(with_auth({keys, "    from: query", "    field: \"a=b\""}), 7, "auth.fxkeys.field",
                    "a query parameter name cannot contain '&', '=', '#' or '?'"));
  EXPECT_TRUE(Fails(with_auth({keys, "    from: first_message", "    field: \"user key\""}), 7, "auth.fxkeys.field",
                    "expected 1 to 64 printable ASCII characters without spaces, got \"user key\""));
  EXPECT_TRUE(Fails(with_auth({keys, "    from: first_message", "    field: \"\""}), 7, "auth.fxkeys.field",
                    "expected 1 to 64 printable ASCII characters"));
  EXPECT_TRUE(Fails(with_auth({keys, "    timeout: 50ms"}), 6, "auth.fxkeys.timeout",
                    "expected a duration from 100ms to 10m, got \"50ms\""));
  EXPECT_TRUE(Fails(with_auth({keys, "    keys: [a]"}), 6, "auth.fxkeys.keys",
                    "unknown key; expected one of keys_file, from, field, timeout"));
  // timeout is accepted whatever `from` is; only first_message uses it.
  EXPECT_EQ(load_config_text(with_auth({keys, "    timeout: 10m"}), kFile).auths[0].timeout, minutes(10));
}

TEST(AuthErrors, NamesAndCount) {
  const TempDir dir;
  const std::string keys = dir.write("k", "key\n");
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "streams: { fx: { source: ws://127.0.0.1:9100/ } }",
                          "auth:", "  fx/keys: { keys_file: " + keys + " }", "routes: [ { path: /fx, stream: fx } ]"}),
                    4, "auth.fx/keys", "an auth name must be 1 to 48 characters"));
  std::string text = "listen: 127.0.0.1:8080\nstreams: { fx: { source: ws://127.0.0.1:9100/ } }\nauth:\n";
  for (int i = 0; i < 33; ++i) {
    text += "  a" + std::to_string(i) + ": { keys_file: " + keys + " }\n";
  }
  text += "routes: [ { path: /fx, stream: fx } ]\n";
  EXPECT_TRUE(Fails(text, 36, "auth.a32", "more than 32 auth blocks"));
}

TEST(AuthErrors, MessagesNeverShowAKey) {
  const ScopedEnv secret("WSGATE_TEST_SECRET", "SECRET-from-env");
  const TempDir dir;
  const std::vector<std::string> bad_files = {
      "SECRET-good\nSECRET bad\n",
      "SECRET-good\n" + std::string(300, 'S') + "SECRET\n",
      "SECRET\x7f-ctl\n",
  };
  for (const std::string& text : bad_files) {
    const std::string keys = dir.write("bad.keys", text);
    const ConfigError e = error_of(with_auth({"    keys_file: " + keys}));
    EXPECT_EQ(std::string(e.what()).find("SECRET"), std::string::npos) << e.what();
  }
  const std::vector<std::string> bad_messages = {
      "    on_connect_send: '{\"k\":\"SECRET-literal\",\"x\":\"${oops'",
      "    on_connect_send: '{\"k\":\"SECRET-literal${bad name}\"}'",
      "    on_connect_send: '{\"k\":\"SECRET-literal\",\"u\":\"${WSGATE_TEST_UNSET_2}\"}'",
      "    on_connect_send: '${WSGATE_TEST_SECRET}" + std::string(70000, 'x') + "'",
  };
  unsetenv("WSGATE_TEST_UNSET_2");
  for (const std::string& line : bad_messages) {
    const ConfigError e = error_of(with_stream({kSource, line}));
    EXPECT_EQ(e.key(), "streams.fx.on_connect_send");
    EXPECT_EQ(std::string(e.what()).find("SECRET"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------ the shipped config

std::string shipped_config_text() {
  const auto path =
      (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "conf" / "wsgate.yaml").lexically_normal();
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(ShippedConfig, HasTheTickerStream) {
  const Config c = load_config_text(shipped_config_text(), "wsgate.yaml");
  ASSERT_EQ(c.streams.size(), 1u);
  const Stream& s = c.streams[0];
  EXPECT_EQ(s.name, "ticker");
  ASSERT_EQ(s.sources.size(), 1u);
  EXPECT_EQ(s.sources[0].endpoint, v4("127.0.0.1", 9100));
  EXPECT_EQ(s.sources[0].path, "/ticker");
  EXPECT_EQ(s.channels, ChannelMode::single);
  EXPECT_EQ(s.history, 10u);
  EXPECT_TRUE(c.auths.empty());
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[2].path, "/ticker");
  EXPECT_TRUE(c.routes[2].is_stream());
  EXPECT_EQ(c.routes[2].stream_index, 0u);
  EXPECT_FALSE(c.routes[2].auth_index.has_value());
}

// Uncommenting the documented examples as they stand must give a valid file.
TEST(ShippedConfig, CommentedExamplesLoadWhenUncommented) {
  std::string text = shipped_config_text();
  const auto uncomment = [&text](const std::string& first, const std::string& block_prefix) {
    size_t pos = text.find(first);
    ASSERT_NE(pos, std::string::npos) << first;
    // Every following line that starts with block_prefix loses its "# ".
    while (pos < text.size() && text.compare(pos, block_prefix.size(), block_prefix) == 0) {
      text.erase(pos + block_prefix.size() - 2, 2);
      pos = text.find('\n', pos) + 1;
    }
  };
  uncomment("    # on_connect_send:", "    # ");
  uncomment("# auth:", "# ");
  text.replace(text.find("  - { path: /ticker, stream: ticker }"),
               std::string("  - { path: /ticker, stream: ticker }").size(),
               "  - { path: /ticker, stream: ticker, auth: ticker_keys }");
  const TempDir dir;
  dir.write("ticker.keys", "demo-key\n");
  const std::string path = dir.write("wsgate.yaml", text);
  const ScopedEnv key("TICKER_KEY", "k");
  const Config c = load_config(path);
  ASSERT_EQ(c.auths.size(), 1u);
  EXPECT_EQ(c.auths[0].keys, (std::vector<std::string>{"demo-key"}));
  EXPECT_EQ(c.routes[2].auth_index, std::optional<size_t>(0));
  EXPECT_EQ(c.streams[0].on_connect_send, (std::vector<std::string>{"{\"subscribe\":\"${path}\",\"key\":\"k\"}"}));
}

}  // namespace
}  // namespace wsgate::conf
