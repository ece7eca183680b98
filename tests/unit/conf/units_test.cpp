#include "conf/units.h"

#include <gtest/gtest.h>

#include <string_view>

namespace wsgate::conf {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseSize, EveryUnit) {
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("16KiB"), 16 * KiB);
  EXPECT_EQ(parse_size("1MiB"), MiB);
  EXPECT_EQ(parse_size("2GiB"), 2 * GiB);
}

TEST(ParseSize, PlainIntegerIsBytes) {
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("0KiB"), 0u);
  EXPECT_EQ(parse_size("007"), 7u);
}

TEST(ParseSize, LargestValuesFit) {
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_size("18446744073709551615B"), UINT64_MAX);
  EXPECT_EQ(parse_size("17179869183GiB"), 17179869183u * GiB);  // 2^34 - 1 GiB
}

TEST(ParseSize, RefusesOverflow) {
  EXPECT_EQ(parse_size("18446744073709551616"), std::nullopt);  // 2^64
  EXPECT_EQ(parse_size("17179869184GiB"), std::nullopt);        // 2^34 GiB = 2^64
  EXPECT_EQ(parse_size("18014398509481984KiB"), std::nullopt);  // 2^54 KiB = 2^64
  EXPECT_EQ(parse_size("99999999999999999999999MiB"), std::nullopt);
}

TEST(ParseSize, RefusesGarbage) {
  for (const std::string_view text :
       {"",       "KiB",  "B",    "-1",   "-1KiB", "+1",  "1.5MiB", "0.5KiB", "16kib",  "16KIB",   "16 KiB", " 16",
        "16KiB ", "16KB", "16MB", "16GB", "16K",   "16k", "1e3",    "0x10",   "16KiBB", "sixteen", "16TiB",  "1,024"}) {
    EXPECT_EQ(parse_size(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(ParseDuration, EveryUnit) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("5s"), seconds(5));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("0ms"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(ParseDuration, RequiresAUnit) {
  EXPECT_EQ(parse_duration("5"), std::nullopt);
  EXPECT_EQ(parse_duration("0"), std::nullopt);
}

TEST(ParseDuration, LargestValueFits) { EXPECT_EQ(parse_duration("9223372036854775807ms"), milliseconds(INT64_MAX)); }

TEST(ParseDuration, RefusesOverflow) {
  EXPECT_EQ(parse_duration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775807s"), std::nullopt);
  EXPECT_EQ(parse_duration("153722867280912931m"), std::nullopt);  // just above INT64_MAX ms
  EXPECT_EQ(parse_duration("99999999999999999999999h"), std::nullopt);
}

TEST(ParseDuration, RefusesGarbage) {
  for (const std::string_view text : {"", "ms", "s", "-5s", "+5s", "1.5s", "5S", "5MS", "5 s", " 5s", "5s ", "5sec",
                                      "5min", "5us", "5d", "five seconds", "5s5", "0x5s"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace wsgate::conf
