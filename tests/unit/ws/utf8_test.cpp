#include "worker/ws/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace wsgate::worker {
namespace {

bool valid(const std::string& s) {
  Utf8Validator v;
  return v.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size()) && v.complete();
}

// A slow, obviously-correct reference (RFC 3629 table 3-7) to check the DFA against.
bool reference_valid(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    uint8_t b = p[i];
    size_t len;
    uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      cp = b & 0x07;
    } else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

TEST(Utf8, AcceptsValidText) {
  EXPECT_TRUE(valid(""));
  EXPECT_TRUE(valid("hello, world and some more ascii"));
  EXPECT_TRUE(valid("\xC2\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
}

TEST(Utf8, RejectsInvalidSequences) {
  EXPECT_FALSE(valid("\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(valid("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(valid("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(valid("\xFF"));
  EXPECT_FALSE(valid("\x80"));         // lone continuation
  EXPECT_FALSE(valid("abc\xE2\x82"));  // truncated at the end
  EXPECT_FALSE(valid("abcdefghijk\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"));
}

TEST(Utf8, SplitAnywhereGivesTheSameAnswer) {
  std::string s = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80 end";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    Utf8Validator v;
    ASSERT_TRUE(v.feed(reinterpret_cast<const uint8_t*>(s.data()), cut));
    ASSERT_TRUE(v.feed(reinterpret_cast<const uint8_t*>(s.data()) + cut, s.size() - cut));
    EXPECT_TRUE(v.complete()) << cut;
  }
}

TEST(Utf8, AgreesWithTheReferenceOnRandomInput) {
  std::mt19937 rng(12345);
  const std::string alphabet[] = {"a",    "\x80", "\xBF", "\xC2", "\xDF", "\xE0", "\xED", "\xEF", "\xF0",
                                  "\xF4", "\xF5", "\xA0", "\x9F", "\x90", "\x8F", "\xC0", "\xFF", "0123456789"};
  for (int round = 0; round < 200000; ++round) {
    std::string s;
    int len = static_cast<int>(rng() % 9);
    for (int k = 0; k < len; ++k) s += alphabet[rng() % std::size(alphabet)];
    ASSERT_EQ(valid(s), reference_valid(s)) << testing::PrintToString(s);
  }
}

}  // namespace
}  // namespace wsgate::worker
