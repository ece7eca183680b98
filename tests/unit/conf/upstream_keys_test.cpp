// What a stream's upgrade to its source carries: `tls`, `headers`, `origin`
// and `subprotocols`; valid and invalid. The n-th string of a yaml({...})
// list is line n of the document.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using testing::Fails;
using testing::kFile;
using testing::yaml;

// Line 1 listen, 2 "streams:", 3 "  fx:", 4 a wss source, then `lines` from 5.
std::string with_wss(std::initializer_list<std::string> lines) {
  return yaml({"listen: 127.0.0.1:8080", "streams:", "  fx:", "    source: wss://feed.example.com/feedadv"}) +
         yaml(lines) + yaml({"routes: [ { path: /fx, stream: fx } ]"});
}

Stream load(std::initializer_list<std::string> lines) { return load_config_text(with_wss(lines), kFile).streams.at(0); }

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

std::string temp_file(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))).string();
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

TEST(UpstreamKeys, TheIssuesExampleLoads) {
  const ScopedEnv token("WSGATE_TEST_FX_TOKEN", "t0k");
  const ScopedEnv key("WSGATE_TEST_FX_KEY", "k-1");
  const std::string ca = temp_file("vendor-ca.pem", kPem);
  const Stream s = load({"    tls: { ca: " + ca + ", server_name: md.example.com, protocols: [TLSv1.3] }",
                         "    headers:", "      Authorization: \"Bearer ${WSGATE_TEST_FX_TOKEN}\"",
                         "      X-Feed: plain", "    origin: https://app.example.com", "    subprotocols: [v2.feed]",
                         "    on_connect_send:", "      - '{\"userKey\":\"${WSGATE_TEST_FX_KEY}\",\"symbol\":\"EURUSD\"}'"});
  EXPECT_TRUE(s.sources.at(0).tls);
  EXPECT_EQ(s.sources.at(0).name, "feed.example.com");
  EXPECT_TRUE(s.tls.verify);
  EXPECT_EQ(s.tls.ca, ca);
  EXPECT_EQ(s.tls.ca_pem, kPem);
  EXPECT_EQ(s.tls.server_name, "md.example.com");
  EXPECT_FALSE(s.tls.tls12);
  EXPECT_TRUE(s.tls.tls13);
  EXPECT_EQ(s.headers, (std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer t0k"},
                                                                        {"X-Feed", "plain"}}));
  EXPECT_EQ(s.origin, "https://app.example.com");
  EXPECT_EQ(s.subprotocols, (std::vector<std::string>{"v2.feed"}));
  EXPECT_EQ(s.on_connect_send, (std::vector<std::string>{"{\"userKey\":\"k-1\",\"symbol\":\"EURUSD\"}"}));
  std::filesystem::remove(ca);
}

TEST(UpstreamKeys, VerifyFalseIsAllowed) { EXPECT_FALSE(load({"    tls: { verify: false }"}).tls.verify); }

TEST(UpstreamKeys, HeaderValueWithCrLfIsAConfigErrorWithItsLine) {
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      Authorization: \"Bearer x\\r\\nX-Evil: 1\""}), 6,
                    "streams.fx.headers.Authorization", "a header value cannot contain CR or LF"));
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      X-A: \"a\\nb\""}), 6, "streams.fx.headers.X-A",
                    "a header value cannot contain CR or LF"));
  // Nor through the environment.
  const ScopedEnv evil("WSGATE_TEST_EVIL", "x\r\nX-Evil: 1");
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      X-A: \"${WSGATE_TEST_EVIL}\""}), 6, "streams.fx.headers.X-A",
                    "once ${...} is expanded"));
}

TEST(UpstreamKeys, ReservedAndBadHeaderNamesAreRefused) {
  for (const char* name : {"Connection", "upgrade", "Host", "Sec-WebSocket-Key", "Sec-WebSocket-Protocol",
                           "Transfer-Encoding", "Keep-Alive", "TE", "Proxy-Authorization"}) {
    EXPECT_TRUE(Fails(with_wss({"    headers:", std::string("      ") + name + ": x"}), 6,
                      std::string("streams.fx.headers.") + name, "cannot be set"))
        << name;
  }
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      Origin: x"}), 6, "streams.fx.headers.Origin", "origin: key"));
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      \"X A\": x"}), 6, "streams.fx.headers.X A", "a header name is"));
}

TEST(UpstreamKeys, MissingEnvironmentVariableIsNamed) {
  unsetenv("WSGATE_TEST_UNSET");
  EXPECT_TRUE(Fails(with_wss({"    headers:", "      Authorization: \"Bearer ${WSGATE_TEST_UNSET}\""}), 6,
                    "streams.fx.headers.Authorization", "environment variable WSGATE_TEST_UNSET is not set"));
}

TEST(UpstreamKeys, TlsErrors) {
  EXPECT_TRUE(Fails(with_wss({"    tls: { ca: /nonexistent/ca.pem }"}), 5, "streams.fx.tls.ca",
                    "cannot read \"/nonexistent/ca.pem\""));
  EXPECT_TRUE(Fails(with_wss({"    tls: { verfy: false }"}), 5, "streams.fx.tls.verfy", "unknown key"));
  EXPECT_TRUE(Fails(with_wss({"    tls: { protocols: [TLSv1.1] }"}), 5, "streams.fx.tls.protocols[0]",
                    "TLSv1.1 is broken and not offered"));
  EXPECT_TRUE(Fails(with_wss({"    tls: { protocols: [QUIC] }"}), 5, "streams.fx.tls.protocols[0]",
                    "expected TLSv1.2 or TLSv1.3"));
  const std::string cert = temp_file("client.pem", kPem);
  EXPECT_TRUE(Fails(with_wss({"    tls: { cert: " + cert + " }"}), 5, "streams.fx.tls.cert", "needs both cert and key"));
  std::filesystem::remove(cert);
  const std::string text = yaml({"listen: 127.0.0.1:8080", "streams:", "  fx:", "    source: ws://127.0.0.1:9100/",
                                 "    tls: { verify: false }", "routes: [ { path: /fx, stream: fx } ]"});
  EXPECT_TRUE(Fails(text, 5, "streams.fx.tls", "applies to wss:// sources and this stream has none"));
}

TEST(UpstreamKeys, SubprotocolsAndOrigin) {
  EXPECT_TRUE(Fails(with_wss({"    subprotocols: [\"a b\"]"}), 5, "streams.fx.subprotocols[0]", "an HTTP token"));
  EXPECT_TRUE(Fails(with_wss({"    origin: \"\""}), 5, "streams.fx.origin", "expected an origin"));
  EXPECT_EQ(load({"    subprotocols: v1"}).subprotocols, (std::vector<std::string>{"v1"}));
}

}  // namespace
}  // namespace wsgate::conf
