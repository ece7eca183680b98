// Unit tests of the bench client's pure pieces: the histogram, the masked
// frame writer, the streaming reader with payload verification, and the
// subscribe mode's feed parsing and sequence accounting.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/bench/feed.h"
#include "tests/bench/histogram.h"
#include "tests/bench/wire.h"

namespace wsgate::bench {
namespace {

TEST(Histogram, BucketsCoverValuesWithinOnePart128) {
  for (std::uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 255ULL, 256ULL, 1000ULL, 123456789ULL, 1ULL << 40, ~0ULL}) {
    const int i = Histogram::index_of(v);
    ASSERT_LT(i, Histogram::kBuckets);
    EXPECT_LE(Histogram::bucket_low(i), v);
    EXPECT_GE(Histogram::bucket_high(i), v);
    EXPECT_LE(Histogram::bucket_high(i) - Histogram::bucket_low(i), v / 128 + 1);
  }
}

TEST(Histogram, QuantilesOfAUniformRange) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.5)), 50e6, 50e6 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.99)), 99e6, 99e6 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.999)), 99.9e6, 99.9e6 * 0.01);
  EXPECT_EQ(h.quantile(1.0), 100000u * 1000);
  EXPECT_EQ(h.min(), 1000u);
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  a.record(10);
  b.record(20);
  b.record(30);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), 30u);
  EXPECT_EQ(a.nonzero().size(), 3u);
}

// Unmasks a client frame written by append_message_frame.
std::vector<std::uint8_t> unmask(const std::vector<std::uint8_t>& frame, std::size_t& header) {
  EXPECT_EQ(frame[0], 0x82);
  EXPECT_TRUE(frame[1] & 0x80);
  std::uint64_t len = frame[1] & 0x7f;
  std::size_t at = 2;
  if (len == 126) {
    len = (frame[2] << 8) | frame[3];
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | frame[i];
    at = 10;
  }
  std::uint32_t mask;
  std::memcpy(&mask, &frame[at], 4);
  header = at + 4;
  EXPECT_EQ(frame.size(), header + len);
  std::vector<std::uint8_t> out(len);
  xor_mask(out.data(), frame.data() + header, len, mask, 0);
  return out;
}

TEST(Wire, MessageFramesCarryThePatternMasked) {
  Pattern p(70000);
  for (std::size_t size : {8u, 64u, 125u, 126u, 65535u, 65536u, 70000u}) {
    std::vector<std::uint8_t> frame;
    append_message_frame(frame, p, 3, 17, size, 0xdeadbeef);
    std::size_t header = 0;
    const auto payload = unmask(frame, header);
    EXPECT_TRUE(p.matches(3, 17, 0, payload)) << size;
    EXPECT_FALSE(p.matches(3, 18, 0, payload)) << size;
    EXPECT_FALSE(p.matches(4, 17, 0, payload)) << size;
  }
}

struct Collect : FrameReader::Sink {
  const Pattern* p = nullptr;
  std::size_t offset = 0, messages = 0, pongs = 0;
  bool ok = true;
  bool on_data(std::uint8_t, std::span<const std::uint8_t> chunk, bool start, bool end) override {
    if (start) offset = 0;
    ok = ok && p->matches(1, messages, offset, chunk);
    offset += chunk.size();
    if (end) ++messages;
    return true;
  }
  bool on_control(std::uint8_t opcode, std::span<const std::uint8_t>) override {
    pongs += opcode == 0xA;
    return true;
  }
};

TEST(Wire, ReaderStreamsFragmentedMessagesByteByByte) {
  Pattern p(1000);
  std::vector<std::uint8_t> wire;
  // Message 0 in one frame; message 1 in two fragments with a pong between.
  std::vector<std::uint8_t> m(300);
  p.fill(1, 0, 0, m);
  wire.insert(wire.end(), {0x82, 126, 0x01, 0x2c});
  wire.insert(wire.end(), m.begin(), m.end());
  p.fill(1, 1, 0, m);
  wire.insert(wire.end(), {0x02, 100});
  wire.insert(wire.end(), m.begin(), m.begin() + 100);
  wire.insert(wire.end(), {0x8A, 0});
  wire.insert(wire.end(), {0x80, 126, 0x00, 200});
  wire.insert(wire.end(), m.begin() + 100, m.end());
  FrameReader r;
  Collect c;
  c.p = &p;
  for (const std::uint8_t b : wire) ASSERT_TRUE(r.feed({&b, 1}, c)) << r.error();
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.messages, 2u);
  EXPECT_EQ(c.pongs, 1u);
}

TEST(Wire, ReaderRejectsMaskedServerFrames) {
  const std::uint8_t frame[] = {0x82, 0x81, 1, 2, 3, 4, 5};
  FrameReader r;
  Collect c;
  Pattern p(64);
  c.p = &p;
  EXPECT_FALSE(r.feed(frame, c));
  EXPECT_EQ(r.error(), "masked server frame");
}

TEST(Feed, ParsesSeqAndSendTime) {
  const auto f = parse_feed_fields(R"({"seq":42,"t":1234567890123,"path":"/bench","src":"s1","pad":"xxxx"})");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, 42u);
  EXPECT_EQ(f->t_ns, 1234567890123u);
  EXPECT_FALSE(parse_feed_fields(R"({"seq":1,"path":"/"})"));
  EXPECT_FALSE(parse_feed_fields(R"({"seq":-1,"t":5})"));
  EXPECT_FALSE(parse_feed_fields(R"({"seq":"1","t":5})"));
  EXPECT_FALSE(parse_feed_fields(""));
}

// Feeds seqs to a tracker and returns the totals.
SeqCounts track(std::initializer_list<std::uint64_t> seqs) {
  SeqTracker t;
  SeqCounts c;
  for (const std::uint64_t s : seqs) c.count(t.observe(s));
  return c;
}

TEST(SeqTracker, FirstMessageSetsTheBaseline) {
  const SeqCounts c = track({1000, 1001, 1002});
  EXPECT_EQ(c.messages, 3u);
  EXPECT_EQ(c.missing, 0u);
  EXPECT_EQ(c.gap_events, 0u);
  EXPECT_EQ(c.late, 0u);
  SeqTracker t;
  EXPECT_FALSE(t.started());
  EXPECT_EQ(t.observe(7).kind, SeqTracker::Kind::kFirst);
  EXPECT_EQ(t.last(), 7u);
}

TEST(SeqTracker, CountsEveryMissingSeqOfAGap) {
  const SeqCounts c = track({5, 6, 9, 10, 20});
  EXPECT_EQ(c.messages, 5u);
  EXPECT_EQ(c.missing, 2u + 9u);  // 7, 8 and 11..19
  EXPECT_EQ(c.gap_events, 2u);
  EXPECT_EQ(c.late, 0u);
}

TEST(SeqTracker, DuplicatesAndReorderingAreLateNotGaps) {
  // 3 repeated; 5 before 4: the jump to 5 skips 4 (a gap of one), then 4
  // arrives late; the expected seq stays at 6.
  SeqTracker t;
  SeqCounts c;
  for (const std::uint64_t s : {1, 2, 3, 3, 5, 4, 6}) c.count(t.observe(s));
  EXPECT_EQ(c.messages, 7u);
  EXPECT_EQ(c.late, 2u);
  EXPECT_EQ(c.missing, 1u);
  EXPECT_EQ(c.gap_events, 1u);
  EXPECT_EQ(t.last(), 6u);
  EXPECT_EQ(t.observe(6).kind, SeqTracker::Kind::kLate);
  const auto gap = t.observe(9);
  EXPECT_EQ(gap.kind, SeqTracker::Kind::kGap);
  EXPECT_EQ(gap.missing, 2u);
}

}  // namespace
}  // namespace wsgate::bench
