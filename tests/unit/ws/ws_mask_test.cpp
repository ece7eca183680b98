// mask_copy against the RFC's definition, byte by byte, at every offset
// phase, length and alignment a chunk can have.
#include "worker/ws/ws_mask.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace wsgate::worker {
namespace {

std::vector<uint8_t> reference(const std::vector<uint8_t>& in, size_t from, size_t n, const uint8_t key[4],
                               uint64_t offset) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint8_t>(in[from + i] ^ key[(offset + i) % 4]);
  }
  return out;
}

TEST(WsMask, MatchesTheDefinitionAtEveryPhaseLengthAndAlignment) {
  const uint8_t key[4] = {0x9d, 0x01, 0xf0, 0x5a};
  std::vector<uint8_t> in(200);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<uint8_t>(i * 37 + 11);
  }
  for (uint64_t offset : {0ull, 1ull, 2ull, 3ull, 4ull, 7ull, (1ull << 40) + 3}) {
    for (size_t from = 0; from < 9; ++from) {
      for (size_t n = 0; n + from <= 80; ++n) {
        std::vector<uint8_t> out(n + 16, 0xee);
        mask_copy(out.data() + 1, in.data() + from, n, key, offset);
        std::vector<uint8_t> want = reference(in, from, n, key, offset);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), out.begin() + 1))
            << "offset " << offset << " from " << from << " n " << n;
        EXPECT_EQ(out[0], 0xee);
        EXPECT_EQ(out[n + 1], 0xee) << "wrote past the end";
      }
    }
  }
}

TEST(WsMask, InPlaceTwiceGivesTheInputBack) {
  const uint8_t key[4] = {1, 2, 3, 4};
  std::vector<uint8_t> b(100001);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(i ^ (i >> 8));
  }
  const std::vector<uint8_t> orig = b;
  mask_copy(b.data(), b.data(), b.size(), key, 5);
  EXPECT_NE(b, orig);
  EXPECT_EQ(b[0], orig[0] ^ key[1]);
  mask_copy(b.data(), b.data(), b.size(), key, 5);
  EXPECT_EQ(b, orig);
}

}  // namespace
}  // namespace wsgate::worker
