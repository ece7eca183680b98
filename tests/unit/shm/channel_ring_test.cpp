// The stream ring (shm/channel_ring.h) in ordinary memory: a value-initialized
// ChannelEntry and a small ring buffer, so records wrap after a few appends.
// Every payload is derived from its seq (length and bytes), so a reader can
// check any record it gets byte for byte without knowing what was written.
#include "shm/channel_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace wsgate::shm {
namespace {

using Result = RingReader::Result;

uint64_t pad8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
uint64_t need_for(uint64_t len) { return sizeof(RecordHeader) + pad8(len); }

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The payload of record `seq` when it is `len` bytes long: the seq itself in
// the first 8 bytes (when there is room), then bytes that depend on both.
void fill_payload(std::string& s, uint64_t seq, size_t len) {
  s.resize(len);
  const uint64_t mix = splitmix(seq);
  for (size_t i = 0; i < len; i += 8) {
    const uint64_t word = i == 0 && len >= 8 ? seq : mix + i * 0x0101010101010101ULL;
    std::memcpy(s.data() + i, &word, std::min<size_t>(8, len - i));
  }
}

std::string payload(uint64_t seq, size_t len) {
  std::string s;
  fill_payload(s, seq, len);
  return s;
}

// Whether `got` is exactly the payload of `seq` (of its length).
bool is_payload(const std::string& got, uint64_t seq) {
  thread_local std::string expect;
  fill_payload(expect, seq, got.size());
  return got == expect;
}

struct Ring {
  std::unique_ptr<ChannelEntry> e{new ChannelEntry()};  // value-initialized: all zero
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> pos_of{0};  // [seq]: where the writer put it (seq 0 is none)

  explicit Ring(uint64_t size) : bytes(size, 0xEE) {
    e->ring_size = size;
    writer().reset();
  }
  RingWriter writer() { return RingWriter(*e, bytes.data()); }
  RingReader reader() const { return RingReader(*e, bytes.data()); }

  // Appends `data` split at `split` into head and body; records where it went.
  bool append(const std::string& data, size_t split = 0) {
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    split = std::min(split, data.size());
    const uint64_t seq = e->next_seq.load();
    bool ok = writer().append({p, split}, {p + split, data.size() - split});
    if (ok) {
      EXPECT_EQ(pos_of.size(), seq);
      pos_of.push_back(e->head.load() - need_for(data.size()));
    }
    return ok;
  }
  // Appends the payload of the next seq, `len` bytes long.
  bool append_len(size_t len, size_t split = 0) {
    fill_payload(scratch, e->next_seq.load(), len);
    return append(scratch, split);
  }
  std::string scratch;

  // The oldest record whose bytes the writer has not reclaimed.
  uint64_t oldest_intact_seq() const {
    // Positions grow with seqs.
    auto it = std::lower_bound(pos_of.begin() + 1, pos_of.end(), e->tail.load());
    return static_cast<uint64_t>(it - pos_of.begin());
  }
  RecordHeader header_at(uint64_t pos) const {
    RecordHeader h;
    std::memcpy(&h, bytes.data() + pos % bytes.size(), sizeof h);
    return h;
  }
};

bool same(const RingCursor& a, const RingCursor& b) { return a.pos == b.pos && a.seq == b.seq; }

// Reads everything from `c` on; expects records only (then empty), in order,
// each the payload of its seq and found where the writer put it (at `c`, or
// at the next lap's start when `c` is at the gap or pad before it). A cursor
// of seq 0 takes the first record's own seq. Returns the seqs read.
std::vector<uint64_t> read_all(const Ring& r, RingCursor& c) {
  const uint64_t size = r.bytes.size();
  std::vector<uint64_t> seqs;
  std::string out;
  for (;;) {
    const RingCursor before = c;
    Result res = r.reader().next(c, out);
    if (res == Result::empty) {
      EXPECT_TRUE(same(c, before)) << "empty moved the cursor from {" << before.pos << ", " << before.seq << "} to {"
                                   << c.pos << ", " << c.seq << "}";
      return seqs;
    }
    EXPECT_EQ(res, Result::record) << "at {" << before.pos << ", " << before.seq << "}";
    if (res != Result::record) {
      return seqs;
    }
    EXPECT_GE(c.seq, 2u);
    const uint64_t seq = c.seq - 1;
    if (before.seq != 0) {
      EXPECT_EQ(seq, before.seq);
    }
    if (!seqs.empty()) {
      EXPECT_EQ(seq, seqs.back() + 1);
    }
    EXPECT_LT(seq, r.pos_of.size());
    if (seq < r.pos_of.size()) {
      const uint64_t at = r.pos_of[seq];
      EXPECT_TRUE(at == before.pos || (at % size == 0 && at > before.pos && at - before.pos < size))
          << "seq " << seq << " is at " << at << ", the cursor was at " << before.pos;
      EXPECT_EQ(c.pos, at + need_for(out.size()));
    }
    EXPECT_TRUE(is_payload(out, seq)) << "seq " << seq << ", " << out.size() << " bytes";
    seqs.push_back(seq);
  }
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

TEST(ChannelRing, MaxRecordPayloadIsAQuarterLessTheHeader) {
  EXPECT_EQ(max_record_payload(4096), 1024u - 16u);
  EXPECT_EQ(max_record_payload(64 * 1024), 16u * 1024u - 16u);
}

TEST(ChannelRing, AppendThenNextRoundTripsHeadAndBody) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  EXPECT_EQ(c.seq, 0u);
  ASSERT_TRUE(r.append("\x81\x05hello", 2));
  std::string out;
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "\x81\x05hello");
  EXPECT_EQ(c.seq, 2u);  // the record's seq (1) + 1
  EXPECT_EQ(c.pos, need_for(7));
  EXPECT_EQ(r.reader().next(c, out), Result::empty);
  // Only a head, only a body, and neither.
  ASSERT_TRUE(r.append("abc", 3));
  ASSERT_TRUE(r.append("xyz", 0));
  ASSERT_TRUE(r.append("", 0));
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "abc");
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "xyz");
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "");
  EXPECT_EQ(c.seq, 5u);
  EXPECT_EQ(r.reader().next(c, out), Result::empty);
}

// Empty spans may have a null data(): append() must not hand them to memcpy
// (UBSan's nonnull check aborts this test if it does).
TEST(ChannelRing, NullEmptySpansAreNotCopied) {
  Ring r(4096);
  const std::string body = "body";
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  ASSERT_TRUE(r.writer().append({}, {}));
  ASSERT_TRUE(r.writer().append({}, {p, body.size()}));
  ASSERT_TRUE(r.writer().append({p, body.size()}, {}));
  RingCursor c{0, 1};
  std::string out;
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "");
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "body");
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, "body");
  EXPECT_EQ(c.seq, 4u);
  EXPECT_EQ(r.reader().next(c, out), Result::empty);
}

TEST(ChannelRing, SeqAndCountersIncrementPerRecord) {
  Ring r(4096);
  EXPECT_EQ(r.e->next_seq.load(), 1u);
  uint64_t bytes = 0;
  for (size_t len : {1, 7, 8, 9, 100}) {
    ASSERT_TRUE(r.append_len(len, len / 2));
    bytes += len;
  }
  EXPECT_EQ(r.e->next_seq.load(), 6u);
  EXPECT_EQ(r.e->messages_in.load(), 5u);
  EXPECT_EQ(r.e->bytes_in.load(), bytes);
  EXPECT_EQ(r.e->head.load(), need_for(1) + need_for(7) + need_for(8) + need_for(9) + need_for(100));
  EXPECT_EQ(r.e->tail.load(), 0u);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    EXPECT_EQ(r.header_at(r.pos_of[seq]).seq, seq);
    EXPECT_EQ(r.header_at(r.pos_of[seq]).kind, static_cast<uint32_t>(RecordKind::frame));
  }
  RingCursor c{0, 1};
  EXPECT_EQ(read_all(r, c), range(1, 5));
  EXPECT_EQ(c.seq, 6u);
}

TEST(ChannelRing, EmptyRing) {
  Ring r(4096);
  std::string out = "untouched";
  RingCursor c = r.reader().at_head();
  EXPECT_EQ(c.pos, 0u);
  EXPECT_EQ(c.seq, 0u);
  EXPECT_EQ(r.reader().next(c, out), Result::empty);
  EXPECT_EQ(out, "untouched");
  EXPECT_EQ(c.pos, 0u);
  EXPECT_EQ(c.seq, 0u);
  // Nothing at the tail either: it is the head.
  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 0u);
  EXPECT_EQ(t.seq, 0u);
  for (uint32_t n : {0u, 1u, 5u}) {
    RingCursor b = r.reader().back(n);
    EXPECT_EQ(b.pos, 0u) << n;
    EXPECT_EQ(b.seq, 0u) << n;
  }
  // A cursor of a known seq is left alone too.
  RingCursor k{0, 1};
  EXPECT_EQ(r.reader().next(k, out), Result::empty);
  EXPECT_TRUE(same(k, RingCursor{0, 1}));
}

TEST(ChannelRing, AtHeadSkipsWhatIsThereAndGetsWhatComesNext) {
  Ring r(4096);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.append_len(50));
  RingCursor c = r.reader().at_head();
  EXPECT_EQ(c.pos, r.e->head.load());
  EXPECT_EQ(c.seq, 0u);  // not known yet: record 4 will say
  std::string out;
  EXPECT_EQ(r.reader().next(c, out), Result::empty);
  EXPECT_EQ(c.pos, r.e->head.load());
  EXPECT_EQ(c.seq, 0u);
  ASSERT_TRUE(r.append_len(60));
  ASSERT_TRUE(r.append_len(70));
  EXPECT_EQ(read_all(r, c), range(4, 5));
  EXPECT_EQ(c.seq, 6u);
}

// A cursor of seq 0 takes the seq of whatever record is at its position (or
// the seq a pad there carries), then checks seqs from there on.
TEST(ChannelRing, ACursorOfSeqZeroTakesTheSeqOfTheRecordItReads) {
  Ring r(4096);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(r.append_len(30 + i));
  RingCursor c{r.pos_of[3], 0};
  std::string out;
  ASSERT_EQ(r.reader().next(c, out), Result::record);
  EXPECT_EQ(out, payload(3, 32));
  EXPECT_EQ(c.pos, r.pos_of[4]);
  EXPECT_EQ(c.seq, 4u);
  EXPECT_EQ(read_all(r, c), range(4, 6));
}

// 4 records of 1000 bytes in the ring and one of 56 leave 40 bytes at the end:
// the next record does not fit, so a pad record fills them.
TEST(ChannelRing, WrapWritesAPadRecordWhenAHeaderFits) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(56 - 16));
  ASSERT_EQ(r.e->head.load(), 4056u);
  EXPECT_EQ(read_all(r, c), range(1, 5));
  ASSERT_EQ(c.pos, 4056u);
  RingCursor z = r.reader().at_head();  // a new reader where the pad will be
  EXPECT_EQ(z.pos, 4056u);
  EXPECT_EQ(z.seq, 0u);

  ASSERT_TRUE(r.append_len(100));  // seq 6, needs 120 > 40
  const RecordHeader pad = r.header_at(4056);
  EXPECT_EQ(pad.kind, static_cast<uint32_t>(RecordKind::pad));
  EXPECT_EQ(pad.seq, 6u);  // the seq of the record after it
  EXPECT_EQ(r.pos_of[6], 4096u);
  EXPECT_EQ(r.e->head.load(), 4096u + 120u);
  // [tail, head) must fit: the first record (0..1000) was reclaimed.
  EXPECT_EQ(r.e->tail.load(), 1000u);
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{6});
  EXPECT_EQ(read_all(r, z), std::vector<uint64_t>{6});  // across the pad, taking its seq
  EXPECT_EQ(z.seq, 7u);

  // A reader from the tail reads 2..6 across the pad.
  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 1000u);
  EXPECT_EQ(t.seq, 2u);
  EXPECT_EQ(read_all(r, t), range(2, 6));

  // The same layout again in the second lap (6 is 120 bytes, so 880 more make
  // the first 1000), ending 56 bytes later than 4096 + 4000: the tail walks up
  // to the pad exactly, and at_tail() takes the seq the pad carries.
  ASSERT_TRUE(r.append_len(880 - 16));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(56 - 16));
  ASSERT_EQ(r.e->head.load(), 4096u + 4056u);
  EXPECT_EQ(r.e->tail.load(), 4056u);
  t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 4056u);
  EXPECT_EQ(t.seq, 6u);
  EXPECT_EQ(read_all(r, t), range(6, 11));
  EXPECT_EQ(read_all(r, c), range(7, 11));
}

// 4 x 1000 + 88 leaves 8 bytes: less than a header, so no pad record; the
// reader skips them by itself.
TEST(ChannelRing, WrapWithLessThanAHeaderLeftSkipsTheGap) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(88 - 16));
  ASSERT_EQ(r.e->head.load(), 4088u);
  EXPECT_EQ(read_all(r, c), range(1, 5));
  EXPECT_EQ(c.pos, 4088u);  // `empty` left it before the gap
  EXPECT_EQ(c.seq, 6u);
  RingCursor z = r.reader().at_head();  // a new reader at the gap
  EXPECT_EQ(z.pos, 4088u);
  EXPECT_EQ(z.seq, 0u);

  ASSERT_TRUE(r.append_len(100));  // seq 6 starts the second lap
  EXPECT_EQ(r.pos_of[6], 4096u);
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{6});
  EXPECT_EQ(c.pos, 4096u + 120u);
  EXPECT_EQ(read_all(r, z), std::vector<uint64_t>{6});
  EXPECT_EQ(z.seq, 7u);

  // The same layout again in the second lap (6 is 120 bytes, so 880 more
  // make the first 1000) walks the tail up to the gap exactly.
  ASSERT_TRUE(r.append_len(880 - 16));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(88 - 16));  // ends at 4096 + 4088: tail must reach 4088
  EXPECT_EQ(r.e->tail.load(), 4088u);
  EXPECT_EQ(r.e->head.load(), 4096u + 4088u);
  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 4088u);
  EXPECT_EQ(t.seq, 6u);  // read from the record after the gap
  EXPECT_EQ(read_all(r, t), range(6, 11));
  EXPECT_EQ(read_all(r, c), range(7, 11));

  // And once more over the gap: the writer's tail walk skips it as well.
  ASSERT_TRUE(r.append_len(200));
  EXPECT_GT(r.e->tail.load(), 4096u);
  EXPECT_EQ(r.e->tail.load(), r.pos_of[r.oldest_intact_seq()]);
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{12});
}

// A reader that read everything up to the end of a lap waits at the gap (or
// the pad) there. When the writer reclaims those few unused bytes, the tail
// moves to the start of the next lap, where the reader's next record still
// is, intact: the reader has lost nothing and must get it, not `lapped` (the
// hub would count a gap and close every subscriber of the channel with 1008
// "fell behind the stream"). Only a cursor of a known seq can tell; one of
// seq 0 is told `lapped` (conservative). Either way a `lapped` cursor is left
// as it was. `end_len` is the length of the 5th record (it leaves the gap or
// the pad).
void expect_waiting_at_the_end_of_a_lap(uint64_t end_len) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(end_len - 16));
  EXPECT_EQ(read_all(r, c), range(1, 5));
  const uint64_t end = 4000 + end_len;
  ASSERT_EQ(c.pos, end);  // at the gap, or where the pad will be
  ASSERT_EQ(c.seq, 6u);
  const RingCursor waiting = c;
  ASSERT_TRUE(r.append_len(100));  // seq 6 at 4096, ends at 4216
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(976 - 16));  // ends at 8192: the gap's bytes are needed, not 6's
  ASSERT_EQ(r.e->tail.load(), 4096u);
  ASSERT_EQ(r.pos_of[6], 4096u);  // 6 is intact
  std::string out;

  RingCursor unknown{end, 0};
  EXPECT_EQ(r.reader().next(unknown, out), Result::lapped) << "seq 0 cannot tell: lapped";
  EXPECT_TRUE(same(unknown, RingCursor{end, 0}));

  RingCursor other{end, 99};  // not this ring's record 6: moved to the tail, the seq says no
  EXPECT_EQ(r.reader().next(other, out), Result::lapped);
  EXPECT_TRUE(same(other, RingCursor{end, 99})) << "moved to {" << other.pos << ", " << other.seq << "}";

  RingCursor again = waiting;
  EXPECT_EQ(r.reader().next(c, out), Result::record) << "seq 6 is intact at the tail";
  EXPECT_EQ(out, payload(6, 100));
  EXPECT_EQ(c.pos, 4096u + 120u);
  EXPECT_EQ(c.seq, 7u);
  EXPECT_EQ(read_all(r, c), range(7, 10));

  // One more record reclaims 6: now the waiting cursor was lapped indeed.
  ASSERT_TRUE(r.append_len(100));
  ASSERT_EQ(r.e->tail.load(), 4096u + 120u);
  EXPECT_EQ(r.reader().next(again, out), Result::lapped);
  EXPECT_TRUE(same(again, waiting));
  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 4096u + 120u);
  EXPECT_EQ(t.seq, 7u);
}

TEST(ChannelRing, AReaderWaitingAtTheGapAtTheEndOfALapIsNotLappedEarly) {
  expect_waiting_at_the_end_of_a_lap(88);  // leaves 8 bytes
}

TEST(ChannelRing, AReaderWaitingAtThePadAtTheEndOfALapIsNotLappedEarly) {
  expect_waiting_at_the_end_of_a_lap(56);  // leaves 40 bytes: a pad
}

// The other side of it: when the record that ended the lap is reclaimed, the
// reader before it was lapped indeed (the tail is then at the next lap's
// start too, but the record there is not the one it expects).
TEST(ChannelRing, AReaderBeforeARecordThatEndsALapIsLappedWhenItGoes) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  EXPECT_EQ(read_all(r, c), range(1, 4));
  ASSERT_TRUE(r.append_len(96 - 16));  // seq 5 ends the lap exactly
  ASSERT_EQ(r.e->head.load(), 4096u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.append_len(1000 - 16));
  ASSERT_TRUE(r.append_len(96 - 16));  // ends at 8192: 5 is reclaimed
  ASSERT_EQ(r.e->tail.load(), 4096u);
  std::string out;  // what `lapped` leaves in it is unspecified (here: the record at the tail)
  const RingCursor before = c;
  EXPECT_EQ(r.reader().next(c, out), Result::lapped);
  EXPECT_TRUE(same(c, before));
  EXPECT_EQ(c.seq, 5u);
  RingCursor unknown{before.pos, 0};
  EXPECT_EQ(r.reader().next(unknown, out), Result::lapped);
  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, 4096u);
  EXPECT_EQ(t.seq, 6u);
  EXPECT_EQ(read_all(r, t), range(6, 10));
}

TEST(ChannelRing, OversizeIsRejectedCountedAndWritesNothing) {
  Ring r(4096);
  const uint64_t max = max_record_payload(4096);
  const std::string big = payload(1, max + 1);
  ASSERT_FALSE(r.append(big, 10));
  ASSERT_FALSE(r.append(big, 0));
  EXPECT_EQ(r.e->oversize.load(), 2u);
  EXPECT_EQ(r.e->head.load(), 0u);
  EXPECT_EQ(r.e->next_seq.load(), 1u);
  EXPECT_EQ(r.e->messages_in.load(), 0u);
  EXPECT_EQ(r.e->bytes_in.load(), 0u);
  // Exactly the maximum fits, head and body together.
  ASSERT_TRUE(r.append_len(max, 3));
  EXPECT_EQ(r.e->oversize.load(), 2u);
  RingCursor c{0, 1};
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{1});
}

TEST(ChannelRing, LappedReaderIsToldAndResumesAtTheOldestIntactRecord) {
  Ring r(4096);
  RingCursor c = r.reader().at_head();
  RingCursor known{0, 1};
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(r.append_len(300));
  std::string out = "untouched";
  for (RingCursor* k : {&c, &known}) {
    const RingCursor before = *k;
    EXPECT_EQ(r.reader().next(*k, out), Result::lapped) << "seq " << before.seq;
    EXPECT_TRUE(same(*k, before));
    EXPECT_EQ(out, "untouched");
  }

  RingCursor t = r.reader().at_tail();
  EXPECT_EQ(t.pos, r.e->tail.load());
  EXPECT_EQ(t.seq, r.oldest_intact_seq());
  EXPECT_GT(t.seq, 1u);
  EXPECT_EQ(read_all(r, t), range(r.oldest_intact_seq(), 20));
}

TEST(ChannelRing, ACursorFromAnotherLifeOfTheRingIsLapped) {
  Ring r(4096);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(r.append_len(100));
  RingCursor stale{r.pos_of[3], 3};
  r.writer().reset();  // the channel was freed and claimed again
  r.pos_of = {0};
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(r.append_len(40));
  const RingCursor before = stale;
  std::string out;
  EXPECT_EQ(r.reader().next(stale, out), Result::lapped);
  EXPECT_TRUE(same(stale, before));
}

TEST(ChannelRing, BackReturnsTheLastNRecords) {
  Ring r(4096);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(r.append_len(10 + i));
  RingCursor c = r.reader().back(3);
  EXPECT_EQ(c.seq, 8u);
  EXPECT_EQ(read_all(r, c), range(8, 10));
  c = r.reader().back(1);
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{10});
  c = r.reader().back(10);
  EXPECT_EQ(read_all(r, c), range(1, 10));
  c = r.reader().back(50);  // the ring holds fewer
  EXPECT_EQ(read_all(r, c), range(1, 10));
  c = r.reader().back(0);  // at_head()
  EXPECT_EQ(c.pos, r.e->head.load());
  EXPECT_EQ(c.seq, 0u);
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{});
  ASSERT_TRUE(r.append_len(5));
  EXPECT_EQ(read_all(r, c), std::vector<uint64_t>{11});
}

TEST(ChannelRing, BackAfterWrapStopsAtTheTail) {
  Ring r(4096);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(r.append_len(200 + 13 * i % 300));
  const uint64_t oldest = r.oldest_intact_seq();
  ASSERT_GT(oldest, 1u);
  RingCursor c = r.reader().back(1000);
  EXPECT_EQ(c.seq, oldest);
  EXPECT_EQ(read_all(r, c), range(oldest, 40));
  c = r.reader().back(2);
  EXPECT_EQ(read_all(r, c), range(39, 40));
}

// One writer and one reader, interleaved at random paces in one thread, over
// many laps of small rings (a power of two and not). Now and then the reader
// starts over from at_head(), as a new subscriber does (seq 0).
TEST(ChannelRing, RandomizedWriterAndReaderAgreeOnEveryRecord) {
  for (uint64_t size : {4096u, 4104u, 6000u}) {
    for (uint32_t seed = 1; seed <= 2; ++seed) {
      SCOPED_TRACE("ring " + std::to_string(size) + " seed " + std::to_string(seed));
      Ring r(size);
      const uint64_t max = max_record_payload(size);
      std::mt19937_64 rng(seed);
      RingCursor c = r.reader().at_head();
      uint64_t expect = 1;  // the next seq this reader has not read or skipped
      uint64_t laps = 0, read = 0, false_laps = 0, unknown_laps = 0, restarts = 0;
      std::string out;
      for (int step = 0; step < 1500; ++step) {
        // Appetites change over time so that sometimes the reader keeps up.
        const int phase = (step / 200) % 3;
        const int writes = static_cast<int>(rng() % (phase == 0 ? 2 : phase == 1 ? 6 : 20));
        for (int w = 0; w < writes; ++w) {
          const size_t len = rng() % 8 == 0 ? max : 1 + rng() % max;
          ASSERT_TRUE(r.append_len(len, rng() % (len + 1)));
        }
        if (rng() % 40 == 0) {
          c = r.reader().at_head();
          ASSERT_EQ(c.pos, r.e->head.load());
          ASSERT_EQ(c.seq, 0u);
          expect = r.e->next_seq.load();  // one thread: exactly the next record
          ++restarts;
        }
        const int reads = static_cast<int>(rng() % 8);
        for (int k = 0; k < reads; ++k) {
          const RingCursor before = c;
          Result res = r.reader().next(c, out);
          if (res == Result::empty) {
            ASSERT_TRUE(same(c, before));
            ASSERT_EQ(expect, r.e->next_seq.load());
            ASSERT_TRUE(c.seq == 0 || c.seq == expect);
            break;
          }
          if (res == Result::lapped) {
            ASSERT_TRUE(same(c, before));
            ASSERT_TRUE(before.seq == 0 || before.seq == expect);
            ASSERT_LT(expect, r.pos_of.size());
            const uint64_t tail = r.e->tail.load();
            if (r.pos_of[expect] >= tail) {
              // Not really lapped: allowed only for a cursor of seq 0 waiting
              // at a lap's end whose tail just moved to the next lap's start.
              if (before.seq == 0 && tail == r.pos_of[expect] && tail % size == 0 && before.pos < tail) {
                ++unknown_laps;
              } else {
                ++false_laps;  // counted, not stopped at, so the rest is checked too
              }
            }
            c = r.reader().at_tail();
            ASSERT_EQ(c.pos, tail);
            ASSERT_EQ(c.seq, r.oldest_intact_seq());
            ASSERT_GE(c.seq, expect);
            expect = c.seq;
            ++laps;
            continue;
          }
          ASSERT_GE(c.seq, 2u);
          const uint64_t seq = c.seq - 1;
          ASSERT_TRUE(before.seq == 0 || before.seq == seq);
          ASSERT_EQ(seq, expect);
          ASSERT_EQ(c.pos, r.pos_of[seq] + need_for(out.size()));
          ASSERT_TRUE(is_payload(out, seq)) << "seq " << seq << ", " << out.size() << " bytes";
          ++expect;
          ++read;
        }
      }
      EXPECT_GT(laps, 0u);
      EXPECT_GT(read, 100u);
      EXPECT_GT(restarts, 10u);
      EXPECT_EQ(false_laps, 0u) << "times `lapped` was returned for an intact record (of " << laps << " laps)";
      RecordProperty("unknown_laps_" + std::to_string(size) + "_" + std::to_string(seed),
                     static_cast<int>(unknown_laps));
      // The writer never lost track of its own records.
      EXPECT_LE(r.e->head.load() - r.e->tail.load(), size);
      EXPECT_EQ(r.e->messages_in.load(), r.e->next_seq.load() - 1);
    }
  }
}

// Runs `read` against a writer on another thread appending records of
// `min_len` to `max_len` bytes (each the payload of its seq, split at random)
// for 200 ms, and longer (up to a second) until `enough()`: on a loaded
// machine the threads may hardly run side by side. `read` returns false to
// stop early (on a failure).
template <typename Read, typename Enough>
void race_a_writer(Ring& r, size_t min_len, size_t max_len, bool yield_now_and_then, Read read, Enough enough) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(7);
    RingWriter w = r.writer();
    std::string buf;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t seq = r.e->next_seq.load(std::memory_order_relaxed);
      const size_t len = min_len + rng() % (max_len - min_len + 1);
      fill_payload(buf, seq, len);
      const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
      const size_t split = rng() % (len + 1);
      w.append({p, split}, {p + split, len - split});
      if (yield_now_and_then && rng() % 8 == 0) {
        std::this_thread::yield();  // so the reader is not lapped on every record
      }
    }
  });
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t = std::chrono::steady_clock::now() - start;
    if (!(t < std::chrono::milliseconds(200) || (!enough() && t < std::chrono::seconds(1)))) {
      break;
    }
    if (!read()) {
      break;
    }
  }
  stop = true;
  writer.join();
}

// The seqlock property: a reader racing a writer on another thread either
// gets a record exactly as written or `lapped`, never torn bytes; the records
// it gets are in order, without a hole unless it was told `lapped`; and it
// is told `lapped` only when the tail did pass its cursor.
TEST(ChannelRing, ConcurrentReaderNeverReturnsATornRecord) {
  Ring r(4096);
  const RingReader rd = r.reader();
  RingCursor c = rd.at_head();  // {0, 0}: the writer has not started
  uint64_t expect = 0;          // the seq the next record must carry, 0: any
  uint64_t records = 0, laps = 0, bad = 0;
  std::string out;
  auto read = [&] {
    for (int i = 0; i < 64; ++i) {
      const RingCursor before = c;
      Result res = rd.next(c, out);
      if (res == Result::record) {
        ++records;
        const uint64_t seq = c.seq - 1;
        if (c.seq == 0 || (before.seq != 0 && seq != before.seq) || (expect != 0 && seq != expect) ||
            !is_payload(out, seq)) {
          ++bad;
          ADD_FAILURE() << "record seq " << seq << " length " << out.size() << " from {" << before.pos << ", "
                        << before.seq << "}, expected seq " << expect;
          return false;
        }
        expect = seq + 1;
      } else if (res == Result::lapped) {
        ++laps;
        const uint64_t tail = r.e->tail.load();
        if (!same(c, before) || tail <= before.pos) {
          ++bad;
          ADD_FAILURE() << "lapped at {" << before.pos << ", " << before.seq << "} with the tail at " << tail
                        << ", cursor now {" << c.pos << ", " << c.seq << "}";
          return false;
        }
        c = rd.at_tail();
        if (c.seq == 0 || c.seq < expect) {
          ++bad;
          ADD_FAILURE() << "at_tail gave seq " << c.seq << " after a lap, expected at least " << expect;
          return false;
        }
        expect = c.seq;
      } else if (!same(c, before)) {
        ++bad;
        ADD_FAILURE() << "empty moved the cursor";
        return false;
      }
    }
    return true;
  };
  race_a_writer(r, 1, max_record_payload(4096), true, read, [&] { return records >= 100; });
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(records, 0u);
  RecordProperty("records", static_cast<int>(records));
  RecordProperty("laps", static_cast<int>(laps));
}

// The harshest case for the seqlock: a reader that always reads the record
// at the tail, the very one the writer reclaims next.
TEST(ChannelRing, ATailChasingReaderNeverReturnsATornRecord) {
  Ring r(4096);
  const uint64_t max = max_record_payload(4096);
  const RingReader rd = r.reader();
  uint64_t records = 0, laps = 0, bad = 0, last = 0;
  std::string out;
  auto read = [&] {
    for (int i = 0; i < 64; ++i) {
      RingCursor c = rd.at_tail();  // seq 0 while the ring is still empty
      const RingCursor before = c;
      Result res = rd.next(c, out);
      if (res == Result::lapped) {
        ++laps;
        if (!same(c, before) || r.e->tail.load() <= before.pos) {
          ++bad;
          ADD_FAILURE() << "lapped at {" << before.pos << ", " << before.seq << "} with the tail at "
                        << r.e->tail.load();
          return false;
        }
      } else if (res == Result::record) {
        ++records;
        const uint64_t seq = c.seq - 1;
        // The tail only moves on: so does the oldest intact record.
        if (c.seq == 0 || (before.seq != 0 && seq != before.seq) || seq < last || !is_payload(out, seq)) {
          ++bad;
          ADD_FAILURE() << "record seq " << seq << " length " << out.size() << " from {" << before.pos << ", "
                        << before.seq << "}, last " << last;
          return false;
        }
        last = seq;
      }
    }
    return true;
  };
  race_a_writer(r, max / 2, max, false, read, [&] { return records >= 100; });
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(records, 0u);
  RecordProperty("records", static_cast<int>(records));
  RecordProperty("laps", static_cast<int>(laps));
}

// at_head() is how a new reader starts, while the writer runs. head and
// next_seq are two stores, so at_head() gives seq 0 and the first record
// names its own seq. A reader starting so must never be told `lapped` while
// the writer is far from lapping it (the hub would count a gap and close the
// channel's subscribers, or replay the whole ring to them), and must get the
// record written at its position, then the ones after it in order.
// Empty records are 16 bytes and the ring a multiple of that, so no pads:
// record `seq` is at position (seq - 1) * 16. The writer keeps within half a
// ring of a lower bound of the reader's position, so it never laps it.
TEST(ChannelRing, AtHeadRacingTheWriterNeverStartsLappedOrLate) {
  constexpr uint64_t kSize = 64 * 1024;
  Ring r(kSize);
  std::atomic<uint64_t> reader_at{0};  // at most where the reader's cursor is
  std::atomic<bool> started{false}, stop{false};
  std::thread writer([&] {
    RingWriter w = r.writer();
    started = true;
    while (!stop.load(std::memory_order_relaxed)) {
      if (r.e->head.load(std::memory_order_relaxed) + 16 - reader_at.load(std::memory_order_acquire) > kSize / 2) {
        std::this_thread::yield();
        continue;
      }
      w.append({}, {});
    }
  });
  while (!started) {
  }
  const RingReader rd = r.reader();
  uint64_t tries = 0, bad = 0, early = 0, spins = 0;
  std::string out;
  // 200 ms, and longer (up to 700 ms) until it tried enough: on a loaded
  // machine the threads may hardly run side by side.
  const auto start_time = std::chrono::steady_clock::now();
  auto more = [&] {
    const auto t = std::chrono::steady_clock::now() - start_time;
    return bad == 0 && (t < std::chrono::milliseconds(200) || (tries < 1000 && t < std::chrono::milliseconds(700)));
  };
  while (more()) {
    for (int i = 0; i < 10 && bad == 0; ++i, ++tries) {
      // The head only grows: the cursor at_head() gives is at or after it.
      reader_at.store(r.e->head.load(std::memory_order_acquire), std::memory_order_release);
      const uint64_t seq_before = r.e->next_seq.load(std::memory_order_acquire);
      RingCursor c = rd.at_head();
      const RingCursor start = c;
      reader_at.store(start.pos, std::memory_order_release);  // so the writer goes on
      if (c.seq != 0 || c.pos % 16 != 0) {
        ++bad;
        ADD_FAILURE() << "at_head gave {" << c.pos << ", " << c.seq << "}";
        break;
      }
      uint64_t expect = 0;
      for (int k = 0; k < 4; ++k) {
        const RingCursor before = c;
        Result res;
        while ((res = rd.next(c, out)) == Result::empty) {
          // The writer always has room to go on: let it run (one CPU may
          // hold both threads), and do not hang if it does not.
          if (++spins % 64 == 0) {
            std::this_thread::yield();
            if (std::chrono::steady_clock::now() - start_time > std::chrono::seconds(5)) {
              break;
            }
          }
        }
        if (res == Result::empty) {
          ++bad;
          ADD_FAILURE() << "no record at {" << c.pos << ", " << c.seq << "} for seconds, the writer's head at "
                        << r.e->head.load();
          break;
        }
        if (res == Result::lapped) {
          ++bad;
          ADD_FAILURE() << "lapped at {" << before.pos << ", " << before.seq << "}, record " << k << " from at_head {"
                        << start.pos << ", 0}, the writer's head at " << r.e->head.load() << " and its tail at "
                        << r.e->tail.load();
          break;
        }
        const uint64_t seq = c.seq - 1;
        if (c.seq == 0 || before.pos != (seq - 1) * 16 || (expect != 0 && seq != expect) || !out.empty()) {
          ++bad;
          ADD_FAILURE() << "record " << k << " from at_head {" << start.pos << ", 0}: seq " << seq << " (" << out.size()
                        << " bytes) read at " << before.pos << ", expected seq "
                        << (expect != 0 ? expect : before.pos / 16 + 1);
          break;
        }
        if (k == 0) {
          // Written after next_seq was read, or the one being published then
          // (the writer stores next_seq before head).
          if (seq + 1 < seq_before) {
            ++bad;
            ADD_FAILURE() << "the first record from at_head is seq " << seq << ", next_seq was " << seq_before
                          << " before at_head()";
            break;
          }
          if (seq < seq_before) {
            ++early;
          }
        }
        expect = seq + 1;
      }
    }
  }
  stop = true;
  writer.join();
  EXPECT_EQ(bad, 0u) << "after " << tries << " tries";
  EXPECT_GT(tries, 0u);
  RecordProperty("tries", static_cast<int>(tries));
  RecordProperty("first_record_one_before_next_seq", static_cast<int>(early));
  RecordProperty("empty_spins", static_cast<int>(spins));
}

}  // namespace
}  // namespace wsgate::shm
