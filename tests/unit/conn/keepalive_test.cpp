// Keep-alive arithmetic and payloads (worker/conn/keepalive.h): when a ping is
// due, the half-open verdict, and which pongs are wsgate's own.
#include "worker/conn/keepalive.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

namespace wsgate::worker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

TEST(Keepalive, APingIsDueAfterTheIntervalOfSilence) {
  Keepalive k;
  k.heard(10'000);
  EXPECT_EQ(k.until_ping(10'000, seconds(30)), 30'000u);
  EXPECT_EQ(k.until_ping(25'000, seconds(30)), 15'000u);
  EXPECT_EQ(k.until_ping(39'999, seconds(30)), 1u);
  EXPECT_EQ(k.until_ping(40'000, seconds(30)), 0u);
  EXPECT_EQ(k.until_ping(99'000, seconds(30)), 0u) << "overdue is due now";
}

TEST(Keepalive, HearingAnythingPostponesThePing) {
  Keepalive k;
  k.heard(0);
  k.heard(20'000);
  EXPECT_EQ(k.until_ping(30'000, seconds(30)), 20'000u);
}

TEST(Keepalive, SilenceIsMeasuredAcrossTheClockWrapping) {
  // uv_now() is kept modulo 2^31 ms (24.8 days); a difference over the wrap
  // is still exact.
  const uint64_t wrap = uint64_t{1} << 31;
  for (const uint64_t base : {wrap - 1000, 5 * wrap - 1, (uint64_t{1} << 40) + 123}) {
    Keepalive k;
    k.heard(base);
    EXPECT_EQ(k.until_ping(base + 400, seconds(1)), 600u) << base;
    EXPECT_EQ(k.until_ping(base + 1000, seconds(1)), 0u) << base;
    EXPECT_EQ(k.until_ping(base + 3'600'000, std::chrono::hours(1)), 0u) << base;
  }
}

TEST(Keepalive, HalfOpenOnlyWhenNothingCameAfterThePing) {
  Keepalive k;
  k.heard(0);
  EXPECT_FALSE(k.half_open());
  k.ping_sent();
  EXPECT_TRUE(k.half_open());
  k.heard(1500);  // the pong, or any other byte
  EXPECT_FALSE(k.half_open());
  EXPECT_EQ(k.until_ping(1500, milliseconds(1000)), 1000u);
}

TEST(Keepalive, CostsFourBytes) { EXPECT_EQ(sizeof(Keepalive), 4u) << "it lives in padding of Session and Subscriber"; }

TEST(KeepalivePayload, OwnPongsAreRecognised) {
  const std::string p = keepalive_ping_payload(17);
  EXPECT_EQ(p, "wsgate keepalive 17");
  EXPECT_TRUE(is_keepalive_pong(bytes(p)));
  EXPECT_LE(keepalive_ping_payload(UINT64_MAX).size(), 125u) << "a control frame's payload limit";
}

TEST(KeepalivePayload, OtherPongsAreNot) {
  for (const std::string other :
       {"", "wsgate", "wsgate keepalive", "p1", "unsolicited", "Wsgate keepalive 1", " wsgate keepalive 1"}) {
    EXPECT_FALSE(is_keepalive_pong(bytes(other))) << '"' << other << '"';
  }
}

}  // namespace
}  // namespace wsgate::worker
