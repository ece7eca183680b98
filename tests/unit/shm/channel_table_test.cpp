// The channel table (shm/channel_table.h) on a StreamsHeader in shared
// anonymous memory, so forked children can use the same one.
#include "shm/channel_table.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <new>
#include <set>
#include <string>

namespace wsgate::shm {
namespace {

using JoinError = ChannelTable::JoinError;

class Shared {
 public:
  explicit Shared(uint32_t channels) {
    void* p = mmap(nullptr, sizeof(StreamsHeader), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    h_ = ::new (p) StreamsHeader();
    h_->channel_count = channels;
    for (uint32_t i = 0; i < channels; ++i) {
      h_->channels[i].ring_size = 4096;
      h_->channels[i].next_seq.store(1);
    }
  }
  ~Shared() { munmap(h_, sizeof(StreamsHeader)); }
  StreamsHeader& h() { return *h_; }
  ChannelTable table() { return ChannelTable(*h_); }

 private:
  StreamsHeader* h_ = nullptr;
};

pid_t dead_pid() {
  pid_t child = fork();
  if (child == 0) {
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

TEST(ChannelTable, SingleStreamJoinsItsOneChannelAndCountsPerSlot) {
  Shared s(4);
  s.h().channels[2].state.store(static_cast<uint32_t>(ChannelState::active));
  s.h().channels[2].epoch.store(1);
  ChannelTable t = s.table();
  const ChannelRange single{2, 1, false};
  JoinError err{};

  auto a = t.join(single, "/whatever", 0, &err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->channel, 2u);
  EXPECT_EQ(a->epoch, 1u);
  EXPECT_TRUE(a->first_in_slot);

  auto b = t.join(single, "/another/path", 0, &err);  // the path does not matter
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, 2u);
  EXPECT_FALSE(b->first_in_slot);

  auto c = t.join(single, "", 5, &err);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->first_in_slot);

  EXPECT_EQ(t.subscribers(2), 3);
  EXPECT_EQ(s.h().channels[2].subscribers[0].load(), 2);
  EXPECT_EQ(s.h().channels[2].subscribers[5].load(), 1);
  EXPECT_EQ(t.subscribers(1), 0);
  EXPECT_EQ(t.subscribers(3), 0);

  t.leave(2, 0);
  t.leave(2, 0);
  EXPECT_EQ(t.subscribers(2), 1);
  auto d = t.join(single, "", 0, &err);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->first_in_slot);  // slot 0 had left entirely
  EXPECT_EQ(s.h().claim_lock.load(), 0);
}

TEST(ChannelTable, PerPathGivesEachPathItsChannel) {
  Shared s(8);
  ChannelTable t = s.table();
  const ChannelRange range{3, 3, true};
  JoinError err{};

  auto a = t.join(range, "/fx/eurusd", 0, &err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->channel, 3u);
  EXPECT_EQ(a->epoch, 1u);
  EXPECT_TRUE(a->first_in_slot);
  EXPECT_EQ(s.h().channels[3].state.load(), static_cast<uint32_t>(ChannelState::active));
  EXPECT_STREQ(s.h().channels[3].path, "/fx/eurusd");

  auto b = t.join(range, "/fx/usdjpy", 0, &err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, 4u);
  EXPECT_EQ(b->epoch, 1u);
  EXPECT_STREQ(s.h().channels[4].path, "/fx/usdjpy");

  auto a2 = t.join(range, "/fx/eurusd", 0, &err);
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->channel, 3u);
  EXPECT_EQ(a2->epoch, 1u);  // joined, not claimed again
  EXPECT_FALSE(a2->first_in_slot);
  auto a3 = t.join(range, "/fx/eurusd", 7, &err);
  ASSERT_TRUE(a3);
  EXPECT_EQ(a3->channel, 3u);
  EXPECT_TRUE(a3->first_in_slot);

  // A prefix of a claimed path is another path.
  auto p = t.join(range, "/fx/eur", 0, &err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->channel, 5u);

  EXPECT_EQ(t.subscribers(3), 3);
  EXPECT_EQ(t.subscribers(4), 1);
  EXPECT_EQ(t.subscribers(5), 1);
  // Outside the range nothing changed.
  EXPECT_EQ(s.h().channels[2].state.load(), static_cast<uint32_t>(ChannelState::free));
  EXPECT_EQ(s.h().channels[6].state.load(), static_cast<uint32_t>(ChannelState::free));
  EXPECT_EQ(s.h().claim_lock.load(), 0);
}

TEST(ChannelTable, FullRangeRefusesANewPathButNotAKnownOne) {
  Shared s(2);
  ChannelTable t = s.table();
  const ChannelRange range{0, 2, true};
  JoinError err{};
  ASSERT_TRUE(t.join(range, "/a", 0, &err));
  ASSERT_TRUE(t.join(range, "/b", 0, &err));
  err = JoinError::busy;
  EXPECT_FALSE(t.join(range, "/c", 0, &err));
  EXPECT_EQ(err, JoinError::full);
  EXPECT_EQ(s.h().claim_lock.load(), 0);  // released on that path too
  auto b = t.join(range, "/b", 1, &err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, 1u);
}

// Issue 15, finding 12: a full range whose channel has no subscribers left
// hands that channel to the feeder to free now; the new path asks again.
TEST(ChannelTable, AFullRangeAsksTheFeederToFreeAChannelWithoutSubscribers) {
  Shared s(2);
  ChannelTable t = s.table();
  const ChannelRange range{0, 2, true};
  JoinError err{};
  ASSERT_TRUE(t.join(range, "/a", 0, &err));
  ASSERT_TRUE(t.join(range, "/b", 0, &err));
  t.leave(1, 0);  // /b lingers without subscribers
  EXPECT_FALSE(t.reclaim_asked(0));
  EXPECT_FALSE(t.reclaim_asked(1));
  EXPECT_FALSE(t.join(range, "/c", 2, &err));
  EXPECT_EQ(err, JoinError::reclaiming);
  EXPECT_FALSE(t.reclaim_asked(0)) << "/a has a subscriber";
  EXPECT_TRUE(t.reclaim_asked(1));
  EXPECT_STREQ(s.h().channels[1].path, "/b") << "only the feeder frees it";
  EXPECT_EQ(s.h().claim_lock.load(), 0);
  EXPECT_TRUE(t.free_if_unused(1));
  EXPECT_FALSE(t.reclaim_asked(1));
  auto c = t.join(range, "/c", 2, &err);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->channel, 1u);
  EXPECT_FALSE(t.reclaim_asked(1));
}

Claimant from(uint8_t last_byte, uint32_t max) {
  Claimant who;
  who.address[10] = 0xff;
  who.address[11] = 0xff;
  who.address[12] = 127;
  who.address[15] = last_byte;
  who.max_per_address = max;
  return who;
}

// Issue 15, finding 12: one address creates at most max_per_address channels
// that are in use; joining an existing path is never bounded.
TEST(ChannelTable, OneAddressCreatesAtMostItsShareOfChannelsInUse) {
  Shared s(8);
  ChannelTable t = s.table();
  const ChannelRange range{0, 8, true};
  JoinError err{};
  ASSERT_TRUE(t.join(range, "/a", 0, &err, from(2, 2)));
  ASSERT_TRUE(t.join(range, "/b", 0, &err, from(2, 2)));
  EXPECT_FALSE(t.join(range, "/c", 0, &err, from(2, 2)));
  EXPECT_EQ(err, JoinError::address_limit);
  EXPECT_EQ(s.h().claim_lock.load(), 0);
  EXPECT_TRUE(t.join(range, "/a", 1, &err, from(2, 2))) << "a known path is joined";
  EXPECT_TRUE(t.join(range, "/c", 0, &err, from(3, 2))) << "another address has its own share";
  EXPECT_TRUE(t.join(range, "/d", 0, &err, from(3, 0))) << "0: no bound";
  // /b left: a channel without subscribers no longer counts against its creator.
  t.leave(1, 0);
  EXPECT_TRUE(t.join(range, "/e", 0, &err, from(2, 2)));
}

TEST(ChannelTable, FreeIfUnusedFreesOnlyAChannelNobodySubscribesTo) {
  Shared s(2);
  ChannelTable t = s.table();
  const ChannelRange range{0, 2, true};
  JoinError err{};
  auto a = t.join(range, "/a", 0, &err);
  auto a2 = t.join(range, "/a", 3, &err);
  ASSERT_TRUE(a && a2);
  EXPECT_FALSE(t.free_if_unused(0));
  t.leave(0, 0);
  EXPECT_FALSE(t.free_if_unused(0));  // slot 3 still there
  EXPECT_EQ(s.h().channels[0].state.load(), static_cast<uint32_t>(ChannelState::active));
  t.leave(0, 3);
  s.h().channels[0].upstream.store(static_cast<uint32_t>(UpstreamState::up));
  EXPECT_TRUE(t.free_if_unused(0));
  EXPECT_EQ(s.h().channels[0].state.load(), static_cast<uint32_t>(ChannelState::free));
  EXPECT_EQ(s.h().channels[0].upstream.load(), static_cast<uint32_t>(UpstreamState::idle));
  EXPECT_EQ(s.h().claim_lock.load(), 0);
}

TEST(ChannelTable, AFreedEntryIsReclaimedWithANewEpochAndAnEmptyRing) {
  Shared s(2);
  ChannelTable t = s.table();
  const ChannelRange range{0, 2, true};
  JoinError err{};
  auto a = t.join(range, "/a/rather/long/path", 0, &err);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->channel, 0u);
  // The feeder's life on it.
  ChannelEntry& e = s.h().channels[0];
  e.head.store(12345 * 8);
  e.tail.store(12000 * 8);
  e.next_seq.store(777);
  e.messages_in.store(776);
  e.bytes_in.store(99999);
  e.upstream.store(static_cast<uint32_t>(UpstreamState::backoff));
  t.leave(0, 0);
  ASSERT_TRUE(t.free_if_unused(0));

  auto b = t.join(range, "/b", 1, &err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, 0u);  // the freed entry, first in the range
  EXPECT_EQ(b->epoch, a->epoch + 1);
  EXPECT_TRUE(b->first_in_slot);
  EXPECT_EQ(e.state.load(), static_cast<uint32_t>(ChannelState::active));
  EXPECT_STREQ(e.path, "/b");
  for (size_t i = 2; i < kChannelPathLen; ++i) {
    ASSERT_EQ(e.path[i], '\0') << "old path bytes left at " << i;
  }
  EXPECT_EQ(e.head.load(), 0u);
  EXPECT_EQ(e.tail.load(), 0u);
  EXPECT_EQ(e.next_seq.load(), 1u);
  EXPECT_EQ(e.messages_in.load(), 0u);
  EXPECT_EQ(e.bytes_in.load(), 0u);
  EXPECT_EQ(e.upstream.load(), static_cast<uint32_t>(UpstreamState::idle));
  EXPECT_EQ(t.subscribers(0), 1);

  // The old path now claims a fresh entry too.
  auto a2 = t.join(range, "/a/rather/long/path", 0, &err);
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->channel, 1u);
}

// The claim comment says "its ring and counters start over"; the status
// counters of the previous path's life are left behind, though.
TEST(ChannelTable, AReclaimedEntryStartsAllItsCountersOver) {
  Shared s(1);
  ChannelTable t = s.table();
  const ChannelRange range{0, 1, true};
  JoinError err{};
  ASSERT_TRUE(t.join(range, "/a", 0, &err));
  ChannelEntry& e = s.h().channels[0];
  e.oversize.store(3);
  e.connects.store(5);
  t.leave(0, 0);
  ASSERT_TRUE(t.free_if_unused(0));
  ASSERT_TRUE(t.join(range, "/b", 0, &err));
  EXPECT_EQ(e.oversize.load(), 0u) << "path /b reports /a's oversize messages";
  EXPECT_EQ(e.connects.load(), 0u) << "path /b reports /a's upstream connections";
}

TEST(ChannelTable, AKnownPathIsJoinedEvenBehindAFreeEntry) {
  Shared s(3);
  ChannelTable t = s.table();
  const ChannelRange range{0, 3, true};
  JoinError err{};
  ASSERT_TRUE(t.join(range, "/a", 0, &err));
  ASSERT_TRUE(t.join(range, "/b", 0, &err));
  t.leave(0, 0);
  ASSERT_TRUE(t.free_if_unused(0));
  auto b = t.join(range, "/b", 0, &err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->channel, 1u);
  EXPECT_EQ(b->epoch, 1u);
  EXPECT_EQ(s.h().channels[0].state.load(), static_cast<uint32_t>(ChannelState::free));
}

TEST(ChannelTable, ClearSlotZeroesThatSlotOnEveryChannel) {
  Shared s(4);
  ChannelTable t = s.table();
  JoinError err{};
  s.h().channels[0].state.store(static_cast<uint32_t>(ChannelState::active));
  ASSERT_TRUE(t.join({0, 1, false}, "", 1, &err));
  ASSERT_TRUE(t.join({0, 1, false}, "", 1, &err));
  ASSERT_TRUE(t.join({0, 1, false}, "", 2, &err));
  ASSERT_TRUE(t.join({1, 3, true}, "/x", 1, &err));
  ASSERT_TRUE(t.join({1, 3, true}, "/y", 1, &err));
  ASSERT_TRUE(t.join({1, 3, true}, "/y", 2, &err));
  t.clear_slot(1);
  for (uint32_t ch = 0; ch < 4; ++ch) {
    EXPECT_EQ(s.h().channels[ch].subscribers[1].load(), 0) << ch;
  }
  EXPECT_EQ(t.subscribers(0), 1);
  EXPECT_EQ(t.subscribers(1), 0);
  EXPECT_EQ(t.subscribers(2), 1);
  EXPECT_TRUE(t.free_if_unused(1));
  EXPECT_FALSE(t.free_if_unused(2));
}

TEST(ChannelTable, ALockHeldByADeadProcessIsOverruled) {
  Shared s(2);
  ChannelTable t = s.table();
  const pid_t gone = dead_pid();
  s.h().claim_lock.store(gone);
  JoinError err{};
  const auto start = std::chrono::steady_clock::now();
  auto j = t.join({0, 2, true}, "/a", 0, &err);
  ASSERT_TRUE(j);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(s.h().claim_lock.load(), 0);
  s.h().claim_lock.store(dead_pid());
  t.leave(j->channel, 0);
  EXPECT_TRUE(t.free_if_unused(j->channel));
  EXPECT_EQ(s.h().claim_lock.load(), 0);
}

TEST(ChannelTable, ALockHeldByALiveProcessMakesJoinBusyAfterAboutASecond) {
  Shared s(2);
  ChannelTable t = s.table();
  const pid_t live = getppid();
  ASSERT_GT(live, 0);
  s.h().claim_lock.store(live);
  JoinError err = JoinError::full;
  const auto start = std::chrono::steady_clock::now();
  auto j = t.join({0, 2, true}, "/a", 0, &err);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(j);
  EXPECT_EQ(err, JoinError::busy);
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_EQ(s.h().claim_lock.load(), live);  // not taken, not released
  EXPECT_EQ(s.h().channels[0].state.load(), static_cast<uint32_t>(ChannelState::free));
  EXPECT_EQ(t.subscribers(0), 0);
  // A single stream needs no lock.
  s.h().channels[1].state.store(static_cast<uint32_t>(ChannelState::active));
  EXPECT_TRUE(t.join({1, 1, false}, "", 0, &err));
}

// Processes joining the same few paths at once each end up on one channel
// per path, with every join counted.
TEST(ChannelTable, ConcurrentJoinsFromManyProcessesAgreeOnOneChannelPerPath) {
  Shared s(8);
  const ChannelRange range{0, 8, true};
  constexpr int kChildren = 4;
  constexpr int kJoins = 200;
  const char* paths[] = {"/p", "/q", "/r"};
  pid_t kids[kChildren];
  for (int k = 0; k < kChildren; ++k) {
    kids[k] = fork();
    if (kids[k] == 0) {
      ChannelTable t = s.table();
      JoinError err{};
      for (int i = 0; i < kJoins; ++i) {
        if (!t.join(range, paths[i % 3], static_cast<uint32_t>(k), &err)) {
          _exit(1);
        }
      }
      _exit(0);
    }
  }
  for (pid_t kid : kids) {
    int status = 0;
    waitpid(kid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ChannelTable t = s.table();
  std::set<std::string> seen;
  int64_t total = 0;
  for (uint32_t ch = 0; ch < 8; ++ch) {
    if (s.h().channels[ch].state.load() == static_cast<uint32_t>(ChannelState::active)) {
      EXPECT_TRUE(seen.insert(s.h().channels[ch].path).second) << "two channels for " << s.h().channels[ch].path;
      total += t.subscribers(ch);
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{"/p", "/q", "/r"}));
  EXPECT_EQ(total, kChildren * kJoins);
  EXPECT_EQ(s.h().claim_lock.load(), 0);
}

}  // namespace
}  // namespace wsgate::shm
