// The one escaping (worker/log/escape.h) for log lines, status fields and
// metrics labels: valid UTF-8 kept, invalid bytes replaced, control bytes
// escaped (issue 15, finding 7).
#include "worker/log/escape.h"

#include <gtest/gtest.h>

#include <string>

namespace wsgate::worker {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

bool valid_utf8(const std::string& s) {
  // A reference decoder: as strict as RFC 3629.
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    unsigned cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

TEST(Escape, ValidUtf8IsKeptAsItIs) {
  for (Quoting q : {Quoting::log, Quoting::json, Quoting::prometheus}) {
    EXPECT_EQ(escaped("/fx/\xE2\x82\xAC/\xC3\xA9t\xC3\xA9/\xF0\x9F\x98\x80", q),
              "/fx/\xE2\x82\xAC/\xC3\xA9t\xC3\xA9/\xF0\x9F\x98\x80");
  }
  EXPECT_EQ(json_string("\xE2\x82\xAC"), "\"\xE2\x82\xAC\"");  // was "\u00e2\u0082\u00ac": garbled
}

TEST(Escape, EachInvalidByteBecomesTheReplacementCharacter) {
  EXPECT_EQ(escaped("a\xFF" "b", Quoting::log), "a" + kFffd + "b");
  EXPECT_EQ(escaped("\x80", Quoting::json), kFffd);                          // a stray continuation
  EXPECT_EQ(escaped("\xC0\xAF", Quoting::json), kFffd + kFffd);              // overlong '/'
  EXPECT_EQ(escaped("\xE2\x82", Quoting::json), kFffd + kFffd);              // cut short
  EXPECT_EQ(escaped("\xED\xA0\x80", Quoting::json), kFffd + kFffd + kFffd);  // a surrogate
  EXPECT_EQ(escaped("\xF4\x90\x80\x80", Quoting::prometheus), kFffd + kFffd + kFffd + kFffd);  // past U+10FFFF
  EXPECT_EQ(escaped("\xE2\x82" "\xE2\x82\xAC", Quoting::log), kFffd + kFffd + "\xE2\x82\xAC");
}

TEST(Escape, ControlBytesAreEscapedAndQuotingAddsWhatItsPlaceNeeds) {
  const std::string raw = "a\"b\\c\nd\te\x01" "f\x7f" "g\xC2\x9B" "h";
  EXPECT_EQ(escaped(raw, Quoting::log), "a\"b\\c\\nd\\te\\u0001f\\u007fg\\u009bh");
  EXPECT_EQ(escaped(raw, Quoting::json), "a\\\"b\\\\c\\nd\\te\\u0001f\\u007fg\\u009bh");
  // Prometheus knows \\ \" \n only: other escapes read as text.
  EXPECT_EQ(escaped(raw, Quoting::prometheus), "a\\\"b\\\\c\\nd\\\\te\\\\u0001f\\\\u007fg\\\\u009bh");
}

TEST(Escape, AnyBytesGiveValidUtf8OnOneLine) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all += static_cast<char>(b);
    all += static_cast<char>(255 - b);
  }
  for (Quoting q : {Quoting::log, Quoting::json, Quoting::prometheus}) {
    const std::string out = escaped(all, q);
    EXPECT_TRUE(valid_utf8(out));
    for (const char c : out) {
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << static_cast<int>(c);
    }
  }
}

}  // namespace
}  // namespace wsgate::worker
