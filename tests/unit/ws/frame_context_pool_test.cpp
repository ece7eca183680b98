// An idle session must hold no wslay context: the codec gives its context
// back exactly when nothing of a frame is inside it, and not a byte earlier.
#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/support/test_mask_source.h"
#include "worker/ws/frame_codec.h"

namespace wsgate::worker {
namespace {

using test_support::test_mask_source;

struct Sink final : ByteSink {
  std::vector<uint8_t> bytes;
  void append(const uint8_t* d, size_t n) override { bytes.insert(bytes.end(), d, d + n); }
};

// A masked client text frame "hello" (key 1,2,3,4).
std::vector<uint8_t> masked_hello() {
  std::vector<uint8_t> f{0x81, 0x85, 1, 2, 3, 4};
  const char* p = "hello";
  for (int i = 0; i < 5; ++i) f.push_back(static_cast<uint8_t>(p[i] ^ (i % 4 + 1)));
  return f;
}

// Feeds `bytes` and drains every chunk.
int drain(FrameCodec& c, const std::vector<uint8_t>& bytes, size_t from, size_t to) {
  c.feed(bytes.data() + from, to - from);
  FrameChunk ch;
  int chunks = 0;
  while (c.next(ch) == FrameCodec::Next::chunk) ++chunks;
  return chunks;
}

TEST(FrameContextPool, WholeFrameConsumedReturnsTheContext) {
  FrameContextPool pool{test_mask_source};
  Sink sink;
  FrameCodec codec(sink, false, pool);
  auto f = masked_hello();
  EXPECT_EQ(drain(codec, f, 0, f.size()), 1);
  EXPECT_TRUE(codec.holds_context());
  codec.release_if_idle();
  EXPECT_FALSE(codec.holds_context());
  EXPECT_EQ(pool.idle(), 1u);
  // The next frame borrows the same context and decodes normally.
  EXPECT_EQ(drain(codec, f, 0, f.size()), 1);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(FrameContextPool, PartialHeaderOrPayloadKeepsTheContext) {
  FrameContextPool pool{test_mask_source};
  Sink sink;
  FrameCodec codec(sink, false, pool);
  auto f = masked_hello();
  for (size_t cut = 1; cut < f.size(); ++cut) {
    FrameCodec c(sink, false, pool);
    drain(c, f, 0, cut);
    c.release_if_idle();
    EXPECT_TRUE(c.holds_context()) << "released with " << cut << " of " << f.size() << " bytes inside";
    drain(c, f, cut, f.size());
    c.release_if_idle();
    EXPECT_FALSE(c.holds_context()) << cut;
  }
}

TEST(FrameContextPool, TwoFramesInOneFeedWithTheSecondCutKeepTheContext) {
  FrameContextPool pool{test_mask_source};
  Sink sink;
  FrameCodec codec(sink, false, pool);
  auto f = masked_hello();
  std::vector<uint8_t> two = f;
  two.insert(two.end(), f.begin(), f.begin() + 3);  // next header half there
  EXPECT_EQ(drain(codec, two, 0, two.size()), 1);
  codec.release_if_idle();
  EXPECT_TRUE(codec.holds_context());
}

TEST(FrameContextPool, OutputMidFrameKeepsTheContext) {
  FrameContextPool pool{test_mask_source};
  Sink sink;
  FrameCodec codec(sink, true, pool);
  uint8_t data[10] = {};
  codec.send(FrameHead{true, 0, 2, 10, false}, data, 4);
  codec.release_if_idle();
  EXPECT_TRUE(codec.holds_context());
  codec.send(FrameHead{true, 0, 2, 10, false}, data + 4, 6);
  codec.release_if_idle();
  EXPECT_FALSE(codec.holds_context());
}

}  // namespace
}  // namespace wsgate::worker
