// The top-level `user` and `group` keys: names resolved from the system's
// user and group databases at load time, errors naming file, line and key.
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <string>

#include "conf/loader.h"
#include "tests/unit/conf/loader_test_util.h"

namespace wsgate::conf {
namespace {

using testing::Fails;
using testing::kFile;
using testing::with_pools_and_routes;

TEST(RunAs, AbsentMeansWorkersKeepTheMastersIdentity) {
  Config c = load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080"}), kFile);
  EXPECT_FALSE(c.run_as.has_value());
}

// root is in every user database, with uid and gid 0.
TEST(RunAs, UserAloneTakesItsPrimaryGroupAndMemberships) {
  Config c = load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: root"}), kFile);
  ASSERT_TRUE(c.run_as.has_value());
  EXPECT_EQ(c.run_as->user, "root");
  EXPECT_EQ(c.run_as->uid, 0u);
  EXPECT_EQ(c.run_as->gid, 0u);
  EXPECT_EQ(c.run_as->group, "");
  EXPECT_EQ(c.run_as->line, 2);
  ASSERT_FALSE(c.run_as->groups.empty());
  EXPECT_NE(std::find(c.run_as->groups.begin(), c.run_as->groups.end(), 0u), c.run_as->groups.end());
}

TEST(RunAs, GroupOverridesThePrimaryGroup) {
  const passwd* nobody = getpwnam("nobody");
  const group* nogroup = getgrnam("nogroup");
  if (nobody == nullptr || nogroup == nullptr) {
    GTEST_SKIP() << "this system has no nobody user or nogroup group";
  }
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nogroup->gr_gid;
  Config c =
      load_config_text(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: nobody", "group: nogroup"}), kFile);
  ASSERT_TRUE(c.run_as.has_value());
  EXPECT_EQ(c.run_as->uid, uid);
  EXPECT_EQ(c.run_as->group, "nogroup");
  EXPECT_EQ(c.run_as->gid, gid);
  EXPECT_NE(std::find(c.run_as->groups.begin(), c.run_as->groups.end(), gid), c.run_as->groups.end());
}

TEST(RunAs, UnknownUserIsAnErrorNamingFileLineAndKey) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "workers: 1", "user: wsgate-no-such-user"}), 3,
                    "user", "no such user \"wsgate-no-such-user\""));
}

TEST(RunAs, UnknownGroupIsAnErrorNamingFileLineAndKey) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: root", "group: wsgate-no-such-group"}), 3,
                    "group", "no such group \"wsgate-no-such-group\""));
}

TEST(RunAs, GroupWithoutUserIsRefused) {
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "group: root"}), 2, "group", "group needs user"));
}

TEST(RunAs, NamesThatCannotBeUsersAreRefusedBeforeAnyLookup) {
  EXPECT_TRUE(
      Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: \"\""}), 2, "user", "expected a user name"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: \"root:root\""}), 2, "user",
                    "expected a user name"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: [root]"}), 2, "user", "expected"));
  EXPECT_TRUE(Fails(with_pools_and_routes({"listen: 127.0.0.1:8080", "user: root", "group: \"a b\""}), 3, "group",
                    "expected a group name"));
}

}  // namespace
}  // namespace wsgate::conf
