// The one path normalisation (worker/ws/request_path.h): RFC 3986 section
// 5.2.4 and the reference-resolution examples of section 5.4 (path part
// only), percent-decoding of unreserved characters (section 6.2.2), what is
// refused, and per_path upstream targets that must stay under their source.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "worker/ws/request_path.h"

namespace wsgate::worker {
namespace {

std::optional<std::string> norm(std::string_view raw) { return normalize_request_path(raw, nullptr); }

// RFC 3986 section 5.4 with base "http://a/b/c/d;p?q": a relative reference
// merges with the base's directory "/b/c/" (section 5.2.3) before dot
// segments go; an absolute path stands alone. Query and fragment examples are
// left out: they are not paths.
TEST(RequestPath, Rfc3986Section54Examples) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      // 5.4.1 normal examples
      {"g", "/b/c/g"},
      {"./g", "/b/c/g"},
      {"g/", "/b/c/g/"},
      {"/g", "/g"},
      {";x", "/b/c/;x"},
      {"g;x", "/b/c/g;x"},
      {".", "/b/c/"},
      {"./", "/b/c/"},
      {"..", "/b/"},
      {"../", "/b/"},
      {"../g", "/b/g"},
      {"../..", "/"},
      {"../../", "/"},
      {"../../g", "/g"},
      // 5.4.2 abnormal examples
      {"../../../g", "/g"},
      {"../../../../g", "/g"},
      {"/./g", "/g"},
      {"/../g", "/g"},
      {"g.", "/b/c/g."},
      {".g", "/b/c/.g"},
      {"g..", "/b/c/g.."},
      {"..g", "/b/c/..g"},
      {"./../g", "/b/g"},
      {"./g/.", "/b/c/g/"},
      {"g/./h", "/b/c/g/h"},
      {"g/../h", "/b/c/h"},
      {"g;x=1/./y", "/b/c/g;x=1/y"},
      {"g;x=1/../y", "/b/c/y"},
  };
  for (const auto& [ref, want] : cases) {
    const std::string merged = ref.front() == '/' ? ref : "/b/c/" + ref;
    EXPECT_EQ(remove_dot_segments(merged), want) << ref;
    EXPECT_EQ(norm(merged), want) << ref;
  }
}

TEST(RequestPath, Rfc3986Section524Example) {
  EXPECT_EQ(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
  EXPECT_EQ(remove_dot_segments("mid/content=5/../6"), "mid/6");
}

TEST(RequestPath, TheFindingsSpellingsOfAnAdminPathAllBecomeIt) {
  for (const char* raw : {"/app/admin", "/app/x/../admin", "/app/./admin", "/app/%61dmin", "/app/%61%64%6D%69%6E",
                          "/app//admin", "/app/%2e/admin", "/app/x/%2E%2E/admin", "/./app/admin", "/../app/admin"}) {
    EXPECT_EQ(norm(raw), "/app/admin") << raw;
  }
  EXPECT_EQ(norm("/fx/../../admin/export"), "/admin/export");
}

TEST(RequestPath, UnreservedAreDecodedOthersKeptWithUpperCaseHex) {
  EXPECT_EQ(norm("/%7e%5F%2d%41%7A%30"), "/~_-Az0");
  EXPECT_EQ(norm("/a%20b%3f%23%25"), "/a%20b%3F%23%25");
  EXPECT_EQ(norm("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(norm("/%2541"), "/%2541") << "decoded once, not twice";
  EXPECT_EQ(norm("/a:b@c!$&'()*+,;="), "/a:b@c!$&'()*+,;=");
}

TEST(RequestPath, RootAndTrailingSlashesAreKept) {
  EXPECT_EQ(norm("/"), "/");
  EXPECT_EQ(norm("/.."), "/");
  EXPECT_EQ(norm("/."), "/");
  EXPECT_EQ(norm("//"), "/");
  EXPECT_EQ(norm("/a/"), "/a/");
  EXPECT_EQ(norm("/a/.."), "/");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
}

TEST(RequestPath, AmbiguousOrMalformedPathsAreRefusedWithAReason) {
  for (const char* raw :
       {"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/a\\b", "/a%",  "/a%4",  "/a%zz",        "/a%4g", "/a\"b", "/a<b>",
        "/a{b}",  "/a|b",   "/a^b",   "/a`b",   "/a#b",  "/a b", "/a\tb", "/caf\xc3\xa9", "",      "a/b",   "*"}) {
    std::string why;
    EXPECT_EQ(normalize_request_path(raw, &why), std::nullopt) << raw;
    EXPECT_FALSE(why.empty()) << raw;
  }
  std::string why;
  ASSERT_EQ(normalize_request_path(std::string_view("/a\0b", 4), &why), std::nullopt);
  EXPECT_NE(why.find("0x00"), std::string::npos) << why;
}

// The fast path must never say "normal" for a path normalisation changes.
TEST(RequestPath, TheFastCheckAgreesWithNormalisation) {
  for (const char* raw : {"/", "/chat", "/chat/room-1_x~y", "/a:b@c!$&'()*+,;=", "/a/b/", "/a.b/c.", "/a/b.."}) {
    EXPECT_TRUE(is_normalized_path(raw)) << raw;
    EXPECT_EQ(norm(raw), raw) << raw;
  }
  for (const char* raw : {"", "a", "//", "/a//b", "/./a", "/a/.", "/a/..", "/a/../b", "/%61", "/a%2Fb", "/a\\b", "/a b",
                          "/.well-known"}) {
    EXPECT_FALSE(is_normalized_path(raw)) << raw;
  }
}

TEST(RequestPath, ChannelTargetsJoinTheSourcePathAndKeepItsQuery) {
  EXPECT_EQ(channel_upstream_target("/vendor/v1", "/fx/EURUSD"), "/vendor/v1/fx/EURUSD");
  EXPECT_EQ(channel_upstream_target("/vendor/v1/", "/fx/EURUSD"), "/vendor/v1/fx/EURUSD");
  EXPECT_EQ(channel_upstream_target("/", "/fx/EURUSD"), "/fx/EURUSD");
  EXPECT_EQ(channel_upstream_target("", "/fx/EURUSD"), "/fx/EURUSD");
  EXPECT_EQ(channel_upstream_target("/vendor/v1?feed=fx&x=1", "/fx/EURUSD"), "/vendor/v1/fx/EURUSD?feed=fx&x=1");
  EXPECT_EQ(channel_upstream_target("/", "/"), "/");
}

TEST(RequestPath, ChannelTargetsNeverLeaveTheSourcePath) {
  for (const char* channel :
       {"/fx/../../admin/export", "/..", "/../admin", "/fx/./a", "/fx//a", "/fx/%61", "fx/a", "/fx/a%2F..", "/a\"b"}) {
    EXPECT_EQ(channel_upstream_target("/vendor/v1", channel), std::nullopt) << channel;
  }
}

}  // namespace
}  // namespace wsgate::worker
