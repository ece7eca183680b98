#include "conf/endpoint.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace wsgate::conf {
namespace {

// The reason parse_endpoint gives for refusing `text`, or "" if it accepts it.
std::string refusal(std::string_view text) {
  std::string why;
  const auto endpoint = parse_endpoint(text, &why);
  if (endpoint) {
    return "";
  }
  EXPECT_FALSE(why.empty()) << "no reason given for \"" << text << '"';
  return why;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST(ParseEndpoint, IPv4) {
  std::string why;
  const auto e = parse_endpoint("127.0.0.1:8080", &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  EXPECT_FALSE(e->ipv6);
  EXPECT_EQ(e->to_string(), "127.0.0.1:8080");
}

TEST(ParseEndpoint, PortBounds) {
  EXPECT_EQ(parse_endpoint("0.0.0.0:1", nullptr)->port, 1);
  EXPECT_EQ(parse_endpoint("0.0.0.0:65535", nullptr)->port, 65535);
}

TEST(ParseEndpoint, IPv6InBrackets) {
  std::string why;
  const auto e = parse_endpoint("[::1]:9001", &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 9001);
  EXPECT_TRUE(e->ipv6);
  EXPECT_EQ(e->to_string(), "[::1]:9001");
}

TEST(ParseEndpoint, IPv6IsCanonicalised) {
  // One spelling per address, so duplicates are caught and logs agree.
  const auto e = parse_endpoint("[0:0:0:0:0:0:0:1]:80", nullptr);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(parse_endpoint("[2001:DB8::A]:443", nullptr)->to_string(), "[2001:db8::a]:443");
  EXPECT_EQ(parse_endpoint("[::]:80", nullptr)->host, "::");
  EXPECT_EQ(parse_endpoint("[::ffff:10.0.0.1]:80", nullptr)->host, "::ffff:10.0.0.1");
}

TEST(ParseEndpoint, LocalhostIsLoopback) {
  const auto e = parse_endpoint("localhost:8080", nullptr);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, (Endpoint{"127.0.0.1", 8080, false}));
  EXPECT_EQ(parse_endpoint("LocalHost:1", nullptr)->host, "127.0.0.1");
}

TEST(ParseEndpoint, RefusesBadPorts) {
  for (const std::string_view text :
       {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999999", "127.0.0.1:http", "127.0.0.1:-1", "127.0.0.1:+80",
        "127.0.0.1:80 ", "127.0.0.1: 80", "127.0.0.1:8o", "[::1]:0", "[::1]:x"}) {
    EXPECT_TRUE(contains(refusal(text), "port must be a number from 1 to 65535")) << text;
  }
}

TEST(ParseEndpoint, RefusesMissingPort) {
  EXPECT_TRUE(contains(refusal("127.0.0.1"), "missing port"));
  EXPECT_TRUE(contains(refusal("127.0.0.1:"), "missing port"));
  EXPECT_TRUE(contains(refusal("localhost"), "missing port"));
  EXPECT_TRUE(contains(refusal("[::1]"), "missing ':port'"));
  EXPECT_TRUE(contains(refusal("[::1]:"), "missing port"));
  EXPECT_TRUE(contains(refusal("[::1]8080"), "missing ':port'"));
}

TEST(ParseEndpoint, RefusesHostNames) {
  // Resolving would block the loop and could change under us: numeric only.
  EXPECT_TRUE(contains(refusal("example.com:80"), "host names are not resolved"));
  EXPECT_TRUE(contains(refusal("backend-1:9001"), "host names are not resolved"));
  EXPECT_TRUE(contains(refusal("localhost.localdomain:80"), "host names are not resolved"));
}

TEST(ParseEndpoint, RefusesBadIPv4) {
  for (const std::string_view text :
       {"1.2.3:80", "1.2.3.4.5:80", "256.0.0.1:80", "01.2.3.4:80", "1.2.3.-4:80", " 1.2.3.4:80", "1..3.4:80"}) {
    EXPECT_TRUE(contains(refusal(text), "not a valid IPv4 address")) << text;
  }
}

TEST(ParseEndpoint, RefusesBadIPv6) {
  EXPECT_TRUE(contains(refusal("::1:8080"), "must be in brackets"));
  EXPECT_TRUE(contains(refusal("[::1:8080"), "missing ']'"));
  EXPECT_TRUE(contains(refusal("[]:80"), "not a valid IPv6 address"));
  EXPECT_TRUE(contains(refusal("[1::2::3]:80"), "not a valid IPv6 address"));
  EXPECT_TRUE(contains(refusal("[127.0.0.1]:80"), "not a valid IPv6 address"));
  EXPECT_TRUE(contains(refusal("[fe80::1%eth0]:80"), "not a valid IPv6 address"));
  EXPECT_TRUE(contains(refusal("[localhost]:80"), "not a valid IPv6 address"));
}

TEST(ParseEndpoint, RefusesEmptyParts) {
  EXPECT_TRUE(contains(refusal(""), "empty address"));
  EXPECT_TRUE(contains(refusal(":8080"), "missing host"));
}

TEST(ParseEndpoint, NullWhyIsAllowed) {
  EXPECT_FALSE(parse_endpoint("nonsense", nullptr));
  EXPECT_FALSE(parse_endpoint("", nullptr));
}

TEST(EndpointToString, RoundTrips) {
  for (const std::string_view text : {"10.1.2.3:1", "[2001:db8::1]:65535", "0.0.0.0:443"}) {
    const auto e = parse_endpoint(text, nullptr);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->to_string(), text);
    EXPECT_EQ(parse_endpoint(e->to_string(), nullptr), e);
  }
}

}  // namespace
}  // namespace wsgate::conf
