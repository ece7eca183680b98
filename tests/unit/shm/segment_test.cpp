#include "shm/segment.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "shm/backend_table.h"

namespace wsgate::shm {
namespace {

namespace bip = boost::interprocess;

std::string unique_name() { return "wsgate-test-" + std::to_string(getpid()) + "-" + std::to_string(rand()); }

// Writes a segment the way another layout version would, to test refusal.
void write_foreign_segment(const std::string& name, uint64_t magic, uint32_t version, size_t size, int pid) {
  bip::shared_memory_object obj(bip::create_only, name.c_str(), bip::read_write);
  obj.truncate(static_cast<bip::offset_t>(size));
  bip::mapped_region region(obj, bip::read_write);
  auto* p = static_cast<Prefix*>(region.get_address());
  p->magic = magic;
  p->version = version;
  p->prefix_size = sizeof(Prefix);
  p->total_size = size;
  p->master_pid.store(pid);
}

TEST(SegmentName, DependsOnlyOnThePath) {
  EXPECT_EQ(segment_name_for("/etc/wsgate/wsgate.yaml"), segment_name_for("/etc/wsgate/wsgate.yaml"));
  EXPECT_NE(segment_name_for("/etc/wsgate/a.yaml"), segment_name_for("/etc/wsgate/b.yaml"));
  EXPECT_EQ(segment_name_for("/x").rfind("wsgate-", 0), 0u);
}

TEST(Segment, CreatedSegmentIsVisibleToReadersAndUnlinkedByItsOwner) {
  std::string name = unique_name();
  {
    Segment seg = Segment::create(name, getpid());
    BackendTable(*seg.table()).add_backend("chat", "127.0.0.1:9001", 3);
    BackendTable(*seg.table()).set_slot_count(1);
    BackendTable(*seg.table()).add_session(0, 0, 4);
    Segment reader = Segment::attach_read_only(name);
    const BackendTable view(const_cast<Table&>(*reader.table()));
    EXPECT_EQ(view.backend_count(), 1u);
    EXPECT_EQ(view.sessions(0), 4);
    EXPECT_EQ(reader.table()->header.prefix.master_pid.load(), getpid());
  }
  EXPECT_THROW(Segment::attach_read_only(name), SegmentError);
}

TEST(Segment, ChildrenSeeTheSameTableAndDoNotUnlinkIt) {
  std::string name = unique_name();
  Segment seg = Segment::create(name, getpid());
  BackendTable table(*seg.table());
  table.add_backend("chat", "127.0.0.1:9001", 1);
  table.set_slot_count(2);
  pid_t child = fork();
  if (child == 0) {
    BackendTable(*seg.table()).add_session(1, 0, 9);
    _exit(0);  // skips destructors like a crash would; the next test covers a clean exit
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(table.sessions(0), 9);
  child = fork();
  if (child == 0) {
    { Segment moved = std::move(seg); }  // runs the destructor in the child
    _exit(0);
  }
  waitpid(child, &status, 0);
  EXPECT_NO_THROW(Segment::attach_read_only(name));
}

TEST(Segment, StaleSegmentOfADeadMasterIsReplaced) {
  std::string name = unique_name();
  write_foreign_segment(name, kMagic, kLayoutVersion, sizeof(Table), 999999999);
  Segment seg = Segment::create(name, getpid());
  EXPECT_EQ(seg.table()->header.prefix.master_pid.load(), getpid());
}

TEST(Segment, StaleSegmentOfAnotherVersionIsReplacedWhenItsMasterIsGone) {
  std::string name = unique_name();
  write_foreign_segment(name, kMagic, kLayoutVersion + 7, 4096, 999999999);
  Segment seg = Segment::create(name, getpid());
  EXPECT_EQ(seg.table()->header.prefix.version, kLayoutVersion);
}

TEST(Segment, ReaderRefusesAnotherLayoutVersionWithAClearMessage) {
  std::string name = unique_name();
  write_foreign_segment(name, kMagic, kLayoutVersion + 1, sizeof(Table), getpid());
  try {
    Segment::attach_read_only(name);
    ADD_FAILURE() << "attached to a foreign layout";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("layout version " + std::to_string(kLayoutVersion + 1)), std::string::npos)
        << e.what();
  }
  bip::shared_memory_object::remove(name.c_str());
}

TEST(Segment, ReaderRefusesForeignMagicAndShortSegments) {
  std::string name = unique_name();
  write_foreign_segment(name, 0x1234, kLayoutVersion, sizeof(Table), getpid());
  EXPECT_THROW(Segment::attach_read_only(name), SegmentError);
  bip::shared_memory_object::remove(name.c_str());
  write_foreign_segment(name, kMagic, kLayoutVersion, sizeof(Prefix) + 8, getpid());
  EXPECT_THROW(Segment::attach_read_only(name), SegmentError);
  bip::shared_memory_object::remove(name.c_str());
}

TEST(Segment, MissingSegmentSaysNoInstanceRuns) {
  try {
    Segment::attach_read_only(unique_name());
    ADD_FAILURE();
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("no running wsgate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wsgate::shm
