// `admin:` and `log:` in the config.
#include <gtest/gtest.h>

#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf::testing {
namespace {

TEST(Observability, DefaultsAreNoAdminAndStderr) {
  const Config c = load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080"}), kFile);
  EXPECT_FALSE(c.admin.has_value());
  EXPECT_EQ(c.log.access, "");
  EXPECT_EQ(c.log.error, "");
  EXPECT_EQ(c.log.format, LogFormat::text);
}

TEST(Observability, AdminAndLogs) {
  const Config c = load_config_text(with_pools_and_routes({
                                        "listen: 127.0.0.1:8080",
                                        "admin: 127.0.0.1:9091",
                                        "log: { access: /var/log/wsgate/access.log, format: json, error: err.log }",
                                    }),
                                    "/etc/wsgate/wsgate.yaml");
  ASSERT_TRUE(c.admin.has_value());
  EXPECT_EQ(c.admin->to_string(), "127.0.0.1:9091");
  EXPECT_EQ(c.log.access, "/var/log/wsgate/access.log");
  EXPECT_EQ(c.log.format, LogFormat::json);
  EXPECT_EQ(c.log.error, "/etc/wsgate/err.log");  // relative to the config file
}

TEST(Observability, ErrorsNameTheLineAndKey) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "admin: nowhere"}), 2, "admin", ""));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "log: { format: xml }"}), 2, "log.format",
                    "expected text or json"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "log: { acces: /tmp/a }"}), 2, "log.acces", ""));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "log: { access: /tmp/a, error: /tmp/a }"}), 2,
                    "log.error", "cannot be the access log"));
}

}  // namespace
}  // namespace wsgate::conf::testing
