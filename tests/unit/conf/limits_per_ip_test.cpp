// limits.max_connections_per_ip and limits.handshake_rate_per_ip: defaults
// (off), the "N/s" and plain spellings, ranges, and the errors' file/line/key.
#include <gtest/gtest.h>

#include "conf/loader.h"
#include "conf/units.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using testing::Fails;
using testing::kFile;
using testing::with_pools_and_routes;

TEST(LimitsPerIp, OffByDefault) {
  Config c = load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080"}), kFile);
  EXPECT_EQ(c.limits.max_connections_per_ip, 0u);
  EXPECT_EQ(c.limits.handshake_rate_per_ip, 0u);
}

TEST(LimitsPerIp, ReadsBothSpellingsOfARate) {
  Config c =
      load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  max_connections_per_ip: 100",
                                              "  handshake_rate_per_ip: 20/s"}),
                       kFile);
  EXPECT_EQ(c.limits.max_connections_per_ip, 100u);
  EXPECT_EQ(c.limits.handshake_rate_per_ip, 20u);
  c = load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  handshake_rate_per_ip: 7"}),
                       kFile);
  EXPECT_EQ(c.limits.handshake_rate_per_ip, 7u);
}

TEST(LimitsPerIp, RefusesBadValuesNamingLineAndKey) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  max_connections_per_ip: 50001"}), 3,
                    "limits.max_connections_per_ip", "0 to 50000"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  handshake_rate_per_ip: 20/m"}), 3,
                    "limits.handshake_rate_per_ip", "like 20/s"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "limits:", "  handshake_rate_per_ip: -1"}), 3,
                    "limits.handshake_rate_per_ip", "like 20/s"));
}

TEST(Units, ParseRate) {
  EXPECT_EQ(parse_rate("50/s"), 50u);
  EXPECT_EQ(parse_rate("50"), 50u);
  EXPECT_EQ(parse_rate("0/s"), 0u);
  EXPECT_FALSE(parse_rate("50/m"));
  EXPECT_FALSE(parse_rate("/s"));
  EXPECT_FALSE(parse_rate("5 /s"));
  EXPECT_FALSE(parse_rate(""));
}

}  // namespace
}  // namespace wsgate::conf
