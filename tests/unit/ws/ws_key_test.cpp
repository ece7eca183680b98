#include "worker/ws/ws_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace wsgate::worker {
namespace {

// RFC 6455 section 1.3 (the brief's copy of this vector had a typo; this is
// the RFC's value, also what Python's hashlib/base64 compute).
TEST(WsAccept, MatchesRfc6455Example) {
  EXPECT_EQ(ws_accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsAccept, MatchesSecondKnownVector) {
  EXPECT_EQ(ws_accept_for("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(WsAccept, DependsOnEveryKeyByte) {
  EXPECT_NE(ws_accept_for("dGhlIHNhbXBsZSBub25jZQ=="), ws_accept_for("dGhlIHNhbXBsZSBub25jZA=="));
}

TEST(WsAccept, HandlesKeysLongerThanAWebSocketKey) {
  // The backend-side check hashes whatever key wsgate sent; no length limit.
  const std::string long_key(200, 'k');
  EXPECT_EQ(ws_accept_for(long_key).size(), 28u);
}

TEST(WsKey, MakeWsKeyIsAValidKey) {
  const std::string key = make_ws_key();
  EXPECT_EQ(key.size(), 24u);
  EXPECT_TRUE(is_valid_ws_key(key)) << key;
}

TEST(WsKey, KeyFromBytesIsTheirBase64) {
  // RFC 6455 section 4.1's sample nonce.
  const uint8_t nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p', 'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  EXPECT_EQ(ws_key_from_bytes(nonce), "dGhlIHNhbXBsZSBub25jZQ==");
  const uint8_t zeros[16] = {};
  EXPECT_EQ(ws_key_from_bytes(zeros), "AAAAAAAAAAAAAAAAAAAAAA==");
}

TEST(WsKey, MakeWsKeyIsFreshEachTime) {
  std::set<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.insert(make_ws_key());
  EXPECT_EQ(keys.size(), 64u);
}

TEST(WsKey, AcceptsBase64Of16Bytes) {
  EXPECT_TRUE(is_valid_ws_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(is_valid_ws_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(is_valid_ws_key("/+/+/+/+/+/+/+/+/+/+/w=="));
}

TEST(WsKey, RejectsBase64Of15Bytes) { EXPECT_FALSE(is_valid_ws_key("YWFhYWFhYWFhYWFhYWFh")); }

TEST(WsKey, RejectsBase64Of17Bytes) { EXPECT_FALSE(is_valid_ws_key("YWFhYWFhYWFhYWFhYWFhYWE=")); }

TEST(WsKey, RejectsBase64Of18Bytes) { EXPECT_FALSE(is_valid_ws_key("YWFhYWFhYWFhYWFhYWFhYWFh")); }

TEST(WsKey, RejectsEmpty) { EXPECT_FALSE(is_valid_ws_key("")); }

TEST(WsKey, RejectsMissingPadding) { EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25jZQ")); }

TEST(WsKey, RejectsNonAlphabetCharacters) {
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25jZ!=="));
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25j-Q=="));  // base64url is not base64
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25j Q=="));
}

TEST(WsKey, RejectsPaddingInTheMiddle) {
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBu=25jZQ=="));
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25jZ==="));
}

TEST(WsKey, RejectsSurroundingWhitespace) {
  EXPECT_FALSE(is_valid_ws_key(" dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(is_valid_ws_key("dGhlIHNhbXBsZSBub25jZQ== "));
}

}  // namespace
}  // namespace wsgate::worker
