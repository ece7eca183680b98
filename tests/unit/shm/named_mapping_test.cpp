#include "shm/named_mapping.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "shm/layout.h"
#include "shm/segment.h"

namespace wsgate::shm {
namespace {

constexpr uint64_t kTestMagic = 0x5453455445474e4dULL;

std::string unique_name() { return "wsgate-test-nm-" + std::to_string(getpid()) + "-" + std::to_string(rand()); }

bool exists(const std::string& name) {
  try {
    NamedMapping::attach(name, NamedMapping::Access::read_only);
    return true;
  } catch (const SegmentError&) {
    return false;
  }
}

TEST(NamedMapping, TheCreatorUnlinksAReaderOnlyUnmaps) {
  const std::string name = unique_name();
  {
    NamedMapping created = NamedMapping::create_replacing(name, 4096, SegmentMode{});
    EXPECT_TRUE(created.unlinks_here());
    EXPECT_EQ(created.size(), 4096u);
    std::memcpy(created.address(), "hello", 5);
    {
      NamedMapping reader = NamedMapping::attach(name, NamedMapping::Access::read_only);
      EXPECT_FALSE(reader.unlinks_here());
      EXPECT_EQ(std::memcmp(reader.address(), "hello", 5), 0);
    }
    EXPECT_TRUE(exists(name));
  }
  EXPECT_FALSE(exists(name));
}

TEST(NamedMapping, AMoveHandsOverTheUnlinkOnce) {
  const std::string name = unique_name();
  NamedMapping a = NamedMapping::create_replacing(name, 4096, SegmentMode{});
  void* at = a.address();
  NamedMapping b(std::move(a));
  EXPECT_FALSE(a.unlinks_here());   // NOLINT(bugprone-use-after-move): what a move leaves is the point
  EXPECT_EQ(a.address(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.unlinks_here());
  EXPECT_EQ(b.address(), at);
  NamedMapping c;
  c = std::move(b);
  EXPECT_TRUE(c.unlinks_here());
  EXPECT_EQ(c.name(), name);
  EXPECT_TRUE(exists(name));  // the moved-from owners unlinked nothing
  // Assigning over a creator unlinks what it held.
  c = NamedMapping();
  EXPECT_FALSE(exists(name));
}

TEST(NamedMapping, AForkedChildDoesNotUnlink) {
  const std::string name = unique_name();
  NamedMapping created = NamedMapping::create_replacing(name, 4096, SegmentMode{});
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    { NamedMapping inherited(std::move(created)); }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(exists(name));
}

TEST(NamedMapping, CreateExclusiveRefusesALiveOwnerAndReplacesAStaleOne) {
  const std::string name = unique_name();
  {
    NamedMapping first = NamedMapping::create_exclusive(name, sizeof(Prefix), SegmentMode{}, kTestMagic, getpid());
    auto* p = static_cast<Prefix*>(first.address());
    p->magic = kTestMagic;
    // The owner named in it is this test process: "wsgate..." is not its
    // name, so it counts as stale and is replaced.
    p->master_pid.store(getpid());
    NamedMapping second = NamedMapping::create_exclusive(name, 2 * sizeof(Prefix), SegmentMode{}, kTestMagic, 1);
    EXPECT_EQ(second.size(), 2 * sizeof(Prefix));
    EXPECT_TRUE(second.unlinks_here());
  }
  EXPECT_FALSE(exists(name));
}

TEST(NamedMapping, AttachSaysWhatIsWrong) {
  const std::string name = unique_name();
  try {
    NamedMapping::attach(name, NamedMapping::Access::read_only, true);
    FAIL() << "attached to a missing object";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("no running wsgate for this config"), std::string::npos) << e.what();
  }
  NamedMapping small = NamedMapping::create_replacing(name, 8, SegmentMode{});
  try {
    NamedMapping::attach(name, NamedMapping::Access::read_only, true, sizeof(Prefix));
    FAIL() << "attached to a short object";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a wsgate segment (size 8)"), std::string::npos) << e.what();
  }
}

struct stat stat_of(const std::string& name) {
  struct stat st {};
  EXPECT_EQ(stat(("/dev/shm/" + name).c_str(), &st), 0) << name;
  return st;
}

TEST(NamedMapping, OnlyTheCreatorAndTheReaderGroupMayOpenIt) {
  const std::string name = unique_name();
  {
    NamedMapping own = NamedMapping::create_replacing(name, 4096, SegmentMode{});
    EXPECT_EQ(stat_of(name).st_mode & 07777, 0600u);
  }
  const gid_t group = getegid() == 0 ? 65534 : getegid();  // root may give it to any group
  NamedMapping shared = NamedMapping::create_exclusive(name, sizeof(Prefix), SegmentMode{static_cast<int>(group)},
                                                       kTestMagic, getpid());
  const struct stat st = stat_of(name);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, group);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST(NamedMapping, AnObjectAnotherUidMadeIsReplacedUnreadByRoot) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to make an object owned by another uid";
  }
  const std::string name = unique_name();
  {
    // A squatter's object: another uid's, stamped with a live master pid.
    const int fd = open(("/dev/shm/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    Prefix p{};
    p.magic = kTestMagic;
    p.master_pid.store(getppid());  // live; never read now that the owner is checked first
    EXPECT_EQ(pwrite(fd, &p, sizeof p, 0), static_cast<ssize_t>(sizeof p));
    EXPECT_EQ(fchown(fd, 65534, 65534), 0);
    close(fd);
  }
  ASSERT_EQ(stat_of(name).st_uid, 65534u);
  NamedMapping ours = NamedMapping::create_exclusive(name, 2 * sizeof(Prefix), SegmentMode{}, kTestMagic, getpid());
  const struct stat st = stat_of(name);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ours.size(), 2 * sizeof(Prefix));
}

TEST(NamedMapping, AnObjectAnotherUidMadeIsRefusedNamingItsOwnerWhenItCannotBeReplaced) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to another uid";
  }
  const std::string name = unique_name();
  NamedMapping roots = NamedMapping::create_replacing(name, sizeof(Prefix), SegmentMode{});
  ASSERT_EQ(chmod(("/dev/shm/" + name).c_str(), 0644), 0);
  const pid_t child = fork();
  if (child == 0) {
    // In sticky /dev/shm, nobody may not unlink root's object.
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      _exit(2);
    }
    try {
      NamedMapping mine = NamedMapping::create_exclusive(name, sizeof(Prefix), SegmentMode{}, kTestMagic, getpid());
      _exit(3);
    } catch (const SegmentError& e) {
      const std::string why = e.what();
      _exit(why.find("/dev/shm/" + name + " already exists, owned by uid 0 (root)") != std::string::npos &&
                    why.find("cannot be replaced") != std::string::npos
                ? 0
                : 4);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace wsgate::shm
