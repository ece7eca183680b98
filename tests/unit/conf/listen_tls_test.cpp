// `listen` entries with `tls`: the settings, their defaults and their errors.
#include <gtest/gtest.h>

#include <cstdio>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using testing::Fails;
using testing::with_pools_and_routes;
using testing::yaml;

TEST(ListenTls, PlainAndTlsEntriesWithDefaults) {
  const Config c = load_config_text(with_pools_and_routes({
                                        "listen:",
                                        "  - 127.0.0.1:8080",
                                        "  - address: 0.0.0.0:8443",
                                        "    tls:",
                                        "      certificates:",
                                        "        - { cert: site.pem, key: site.key }",
                                        "        - { cert: /abs/other.pem, key: other.key }",
                                    }),
                                    "/etc/wsgate/wsgate.yaml");
  ASSERT_EQ(c.listen.size(), 2U);
  EXPECT_FALSE(c.listen[0].tls.has_value());
  ASSERT_TRUE(c.listen[1].tls.has_value());
  const ListenTls& t = *c.listen[1].tls;
  EXPECT_EQ(c.listen[1].address.to_string(), "0.0.0.0:8443");
  ASSERT_EQ(t.certificates.size(), 2U);
  EXPECT_EQ(t.certificates[0].cert, "/etc/wsgate/site.pem");  // relative to the config file
  EXPECT_EQ(t.certificates[0].key, "/etc/wsgate/site.key");
  EXPECT_EQ(t.certificates[1].cert, "/abs/other.pem");
  EXPECT_TRUE(t.tls12);
  EXPECT_TRUE(t.tls13);
  EXPECT_TRUE(t.session_tickets);
  EXPECT_EQ(t.ticket_rotation, std::chrono::hours(1));
  EXPECT_FALSE(t.strict_sni);
  EXPECT_EQ(t.verify_client, VerifyClient::off);
  EXPECT_TRUE(c.has_tls());
}

TEST(ListenTls, EveryKey) {
  const Config c = load_config_text(with_pools_and_routes({
                                        "listen:",
                                        "  - address: 127.0.0.1:8443",
                                        "    tls:",
                                        "      certificates: [{ cert: a.pem, key: a.key }]",
                                        "      protocols: [TLSv1.3]",
                                        "      ciphers: ECDHE-ECDSA-AES128-GCM-SHA256",
                                        "      ciphersuites: TLS_AES_128_GCM_SHA256",
                                        "      session_tickets: false",
                                        "      ticket_rotation: 30m",
                                        "      strict_sni: true",
                                        "      client_ca: ca.pem",
                                        "      verify_client: required",
                                    }),
                                    testing::kFile);
  const ListenTls& t = *c.listen[0].tls;
  EXPECT_FALSE(t.tls12);
  EXPECT_TRUE(t.tls13);
  EXPECT_EQ(t.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(t.ciphersuites, "TLS_AES_128_GCM_SHA256");
  EXPECT_FALSE(t.session_tickets);
  EXPECT_EQ(t.ticket_rotation, std::chrono::minutes(30));
  EXPECT_TRUE(t.strict_sni);
  EXPECT_EQ(t.client_ca, "ca.pem");
  EXPECT_EQ(t.verify_client, VerifyClient::required);
}

TEST(ListenTls, Errors) {
  const std::string head = "  - address: 127.0.0.1:8443\n    tls:\n      certificates: [{ cert: a.pem, key: a.key }]";
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      protocols: [TLSv1.1]"}), 5,
                    "listen[0].tls.protocols[0]", "TLSv1.1 is broken and not offered"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      protocols: []"}), 5, "listen[0].tls.protocols",
                    "expected at least one of TLSv1.2 and TLSv1.3"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      verify_client: required"}), 5,
                    "listen[0].tls.verify_client", "need client_ca"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      client_ca: ca.pem"}), 5,
                    "listen[0].tls.client_ca", "verify_client is off"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      verify_client: maybe"}), 5,
                    "listen[0].tls.verify_client", "expected off, optional or required"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      ticket_rotation: 1s"}), 5,
                    "listen[0].tls.ticket_rotation", ""));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", "  - address: 127.0.0.1:8443", "    tls:",
                                           "      certificates: []"}),
                    4, "listen[0].tls.certificates", "expected at least one"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", "  - address: 127.0.0.1:8443", "    tls:",
                                           "      certificates: [{ cert: a.pem }]"}),
                    4, "listen[0].tls.certificates[0].key", "required key is missing"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      ciphers: \"A B\""}), 5, "listen[0].tls.ciphers",
                    "without spaces"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "      sni: strict"}), 5, "listen[0].tls.sni",
                    "unknown key"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen:", head, "  - 127.0.0.1:8443"}), 5, "listen[1]",
                    "already listed as listen[0]"));
}

TEST(ListenTls, ClientCertAuthNeedsAListenerThatAsks) {
  const std::string keys = ::testing::TempDir() + "wsgate-listen-tls.keys";
  FILE* f = fopen(keys.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("0123abcd\n", f);
  fclose(f);
  EXPECT_TRUE(Fails(yaml({"listen: 127.0.0.1:8080", "auth:", "  certs:", "    keys_file: " + keys,
                          "    from: client_cert", "pools:", "  chat:", "    backends: [127.0.0.1:9001]",
                          "routes:", "  - { path: /chat, pool: chat }"}),
                    3, "auth", "no listener asks for one"));
}

}  // namespace
}  // namespace wsgate::conf
