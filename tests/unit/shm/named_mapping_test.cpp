#include "shm/named_mapping.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "shm/layout.h"
#include "shm/segment.h"

namespace wsgate::shm {
namespace {

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
    NamedMapping created = NamedMapping::create_replacing(name, 4096, 0600);
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
  NamedMapping a = NamedMapping::create_replacing(name, 4096, 0600);
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
  NamedMapping created = NamedMapping::create_replacing(name, 4096, 0600);
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
  constexpr uint64_t kTestMagic = 0x5453455445474e4dULL;
  {
    NamedMapping first = NamedMapping::create_exclusive(name, sizeof(Prefix), 0600, kTestMagic, getpid());
    auto* p = static_cast<Prefix*>(first.address());
    p->magic = kTestMagic;
    // The owner named in it is this test process: "wsgate..." is not its
    // name, so it counts as stale and is replaced.
    p->master_pid.store(getpid());
    NamedMapping second = NamedMapping::create_exclusive(name, 2 * sizeof(Prefix), 0600, kTestMagic, 1);
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
  NamedMapping small = NamedMapping::create_replacing(name, 8, 0600);
  try {
    NamedMapping::attach(name, NamedMapping::Access::read_only, true, sizeof(Prefix));
    FAIL() << "attached to a short object";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a wsgate segment (size 8)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wsgate::shm
