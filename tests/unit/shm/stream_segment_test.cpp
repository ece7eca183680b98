// The stream segment (shm/stream_segment.h): layout from a plan, read-only
// attach, and a stale or live segment of the same name.
#include "shm/stream_segment.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "shm/segment.h"

namespace wsgate::shm {
namespace {

namespace bip = boost::interprocess;

std::string unique_name() {
  static int counter = 0;
  return "wsgate-test-streams-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

// Removes the name whatever the test did with it.
struct NameGuard {
  std::string name = unique_name();
  ~NameGuard() { bip::shared_memory_object::remove(name.c_str()); }
};

bool exists(const std::string& name) {
  try {
    bip::shared_memory_object obj(bip::open_only, name.c_str(), bip::read_only);
    return true;
  } catch (const bip::interprocess_exception&) {
    return false;
  }
}

void write_prefix_segment(const std::string& name, uint64_t magic, uint32_t version, size_t size, int pid) {
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

pid_t dead_pid() {
  pid_t child = fork();
  if (child == 0) {
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

std::vector<ChannelPlan> mixed_plan() {
  return {
      ChannelPlan{"ticker", 0, 64 * 1024, true},
      ChannelPlan{"fx", 1, 100, false},  // rounded to 104, still a page of its own
      ChannelPlan{"fx", 1, 100, false},
      ChannelPlan{"book", 2, 70000, false},
      ChannelPlan{std::string(200, 'n'), 3, 8, true},
      ChannelPlan{"big", 4, 3 * 4096, true},
  };
}

TEST(StreamSegment, NameIsTheTableSegmentsWithASuffix) {
  EXPECT_EQ(StreamSegment::name_for("wsgate-abc"), "wsgate-abc-streams");
}

TEST(StreamSegment, CreateLaysOutEveryChannelOnItsOwnPages) {
  NameGuard g;
  const std::vector<ChannelPlan> plan = mixed_plan();
  StreamSegment seg = StreamSegment::create(g.name, getpid(), plan);
  const StreamsHeader& h = *seg.header();
  EXPECT_EQ(h.prefix.magic, kStreamsMagic);
  EXPECT_EQ(h.prefix.version, kStreamsLayoutVersion);
  EXPECT_EQ(h.prefix.prefix_size, sizeof(Prefix));
  EXPECT_EQ(h.prefix.master_pid.load(), getpid());
  EXPECT_EQ(h.channel_count, plan.size());
  EXPECT_EQ(h.claim_lock.load(), 0);
  EXPECT_EQ(seg.name(), g.name);

  struct Span {
    uint64_t begin, end;
  };
  std::vector<Span> spans;
  for (uint32_t i = 0; i < plan.size(); ++i) {
    SCOPED_TRACE("channel " + std::to_string(i));
    const ChannelEntry& e = h.channels[i];
    EXPECT_EQ(e.ring_offset % 4096, 0u);
    EXPECT_GE(e.ring_offset, sizeof(StreamsHeader));
    EXPECT_EQ(e.ring_size, (plan[i].ring_size + 7) / 8 * 8);
    EXPECT_EQ(e.ring_size % 8, 0u);
    EXPECT_EQ(e.stream_index, plan[i].stream_index);
    EXPECT_EQ(std::string(e.stream), plan[i].stream.substr(0, kNameLen - 1));
    EXPECT_EQ(e.head.load(), 0u);
    EXPECT_EQ(e.tail.load(), 0u);
    EXPECT_EQ(e.next_seq.load(), 1u);
    EXPECT_EQ(e.path[0], '\0');
    for (uint32_t slot = 0; slot < kMaxSlots; ++slot) {
      ASSERT_EQ(e.subscribers[slot].load(), 0);
    }
    if (plan[i].fixed) {
      EXPECT_EQ(e.state.load(), static_cast<uint32_t>(ChannelState::active));
      EXPECT_EQ(e.epoch.load(), 1u);
    } else {
      EXPECT_EQ(e.state.load(), static_cast<uint32_t>(ChannelState::free));
      EXPECT_EQ(e.epoch.load(), 0u);
    }
    EXPECT_EQ(seg.ring(i), reinterpret_cast<const uint8_t*>(&h) + e.ring_offset);
    spans.push_back({e.ring_offset, e.ring_offset + e.ring_size});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_LE(spans[i - 1].end, spans[i].begin) << "rings overlap";
  }
  EXPECT_LE(spans.back().end, h.prefix.total_size);
  EXPECT_EQ(h.prefix.total_size % 4096, 0u);
  // Unused entries stay zero.
  EXPECT_EQ(h.channels[plan.size()].ring_size, 0u);
  EXPECT_EQ(h.channels[plan.size()].state.load(), static_cast<uint32_t>(ChannelState::free));

  // Every ring byte is mapped and writable (ASan does not see a mapping, the
  // kernel would: SIGBUS past the end of the object).
  for (uint32_t i = 0; i < plan.size(); ++i) {
    std::memset(seg.ring(i), static_cast<int>(i + 1), h.channels[i].ring_size);
  }
  for (uint32_t i = 0; i < plan.size(); ++i) {
    const uint8_t* r = seg.ring(i);
    EXPECT_EQ(r[0], i + 1);
    EXPECT_EQ(r[h.channels[i].ring_size - 1], i + 1) << "channel " << i;
  }
}

TEST(StreamSegment, AnEmptyPlanMakesAHeaderOnlySegment) {
  NameGuard g;
  StreamSegment seg = StreamSegment::create(g.name, getpid(), {});
  EXPECT_EQ(seg.header()->channel_count, 0u);
  EXPECT_GE(seg.header()->prefix.total_size, sizeof(StreamsHeader));
  EXPECT_NO_THROW(StreamSegment::attach_read_only(g.name));
}

TEST(StreamSegment, MoreChannelsThanTheTableHoldsAreRefused) {
  NameGuard g;
  std::vector<ChannelPlan> plan(kMaxChannels + 1, ChannelPlan{"s", 0, 4096, false});
  EXPECT_THROW(StreamSegment::create(g.name, getpid(), plan), SegmentError);
  EXPECT_FALSE(exists(g.name));
}

TEST(StreamSegment, ReadOnlyAttachSeesTheSameBytesAndTheOwnerUnlinks) {
  NameGuard g;
  {
    StreamSegment seg = StreamSegment::create(g.name, getpid(), mixed_plan());
    seg.header()->channels[3].messages_in.store(42);
    seg.ring(3)[5] = 0x5a;
    StreamSegment ro = StreamSegment::attach_read_only(g.name);
    EXPECT_NE(ro.header(), seg.header());  // its own mapping
    EXPECT_EQ(ro.header()->channel_count, 6u);
    EXPECT_EQ(ro.header()->channels[3].messages_in.load(), 42u);
    EXPECT_EQ(static_cast<const StreamSegment&>(ro).ring(3)[5], 0x5a);
    EXPECT_STREQ(ro.header()->channels[0].stream, "ticker");
    // A moved-from segment unlinks nothing; the moved-to one still owns.
    StreamSegment moved = std::move(seg);
    EXPECT_EQ(moved.header()->channels[3].messages_in.load(), 42u);
  }
  EXPECT_FALSE(exists(g.name));
  EXPECT_THROW(StreamSegment::attach_read_only(g.name), SegmentError);
}

TEST(StreamSegment, AChildDoesNotUnlinkTheMastersSegment) {
  NameGuard g;
  StreamSegment seg = StreamSegment::create(g.name, getpid(), mixed_plan());
  pid_t child = fork();
  if (child == 0) {
    { StreamSegment moved = std::move(seg); }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(exists(g.name));
}

TEST(StreamSegment, ReadOnlyAttachRefusesWhatIsNotAStreamSegment) {
  {
    NameGuard g;
    Segment table = Segment::create(g.name, getpid());
    EXPECT_THROW(StreamSegment::attach_read_only(g.name), SegmentError);
  }
  {
    NameGuard g;
    write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion + 1, sizeof(StreamsHeader), getpid());
    EXPECT_THROW(StreamSegment::attach_read_only(g.name), SegmentError);
  }
  {
    NameGuard g;  // the right prefix on a segment too small for the header
    write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion, 4096, getpid());
    EXPECT_THROW(StreamSegment::attach_read_only(g.name), SegmentError);
  }
  {
    NameGuard g;  // total_size disagrees with the object's size
    write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion, sizeof(StreamsHeader) + 8192, getpid());
    bip::shared_memory_object obj(bip::open_only, g.name.c_str(), bip::read_write);
    obj.truncate(static_cast<bip::offset_t>(sizeof(StreamsHeader) + 4096));
    EXPECT_THROW(StreamSegment::attach_read_only(g.name), SegmentError);
  }
  NameGuard absent;
  EXPECT_THROW(StreamSegment::attach_read_only(absent.name), SegmentError);
}

TEST(StreamSegment, AStaleSegmentOfADeadMasterIsReplaced) {
  NameGuard g;
  write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion, 8192, dead_pid());
  StreamSegment seg = StreamSegment::create(g.name, getpid(), mixed_plan());
  EXPECT_EQ(seg.header()->prefix.master_pid.load(), getpid());
  EXPECT_EQ(seg.header()->channel_count, 6u);
  StreamSegment ro = StreamSegment::attach_read_only(g.name);
  EXPECT_EQ(ro.header()->prefix.total_size, seg.header()->prefix.total_size);
}

TEST(StreamSegment, ASegmentOfALiveProcessNotNamedWsgateIsReplaced) {
  NameGuard g;
  write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion, 8192, getppid());
  StreamSegment seg = StreamSegment::create(g.name, getpid(), mixed_plan());
  EXPECT_EQ(seg.header()->prefix.master_pid.load(), getpid());
}

TEST(StreamSegment, ASegmentOfARunningWsgateIsRefusedAndKept) {
  NameGuard g;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "wsgate-other");
    char c = 1;
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  write_prefix_segment(g.name, kStreamsMagic, kStreamsLayoutVersion, 8192, child);
  EXPECT_THROW(StreamSegment::create(g.name, getpid(), mixed_plan()), SegmentError);
  EXPECT_TRUE(exists(g.name));
  // The same master creating again (its own segment) replaces it.
  EXPECT_NO_THROW(StreamSegment::create(g.name, child, mixed_plan()));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
}

}  // namespace
}  // namespace wsgate::shm
