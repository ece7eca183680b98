// Client keys for routes with `auth` (worker/stream/stream_auth.h).
#include "worker/stream/stream_auth.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wsgate::worker {
namespace {

using std::nullopt;

const std::vector<std::string> kKeys = {"alpha-key-1", "bravo-key-22", "c"};

ClientRequest with_headers(HeaderList headers, std::string target = "/s") {
  ClientRequest r;
  r.target = std::move(target);
  r.path = r.target.substr(0, r.target.find('?'));
  r.forward_headers = std::move(headers);
  return r;
}

conf::Auth auth_of(conf::AuthFrom from, std::string field = "key") {
  conf::Auth a;
  a.name = "fxkeys";
  a.from = from;
  a.field = std::move(field);
  a.keys = kKeys;
  return a;
}

TEST(KeyMatches, ExactKeysOnly) {
  EXPECT_TRUE(key_matches(kKeys, "alpha-key-1"));
  EXPECT_TRUE(key_matches(kKeys, "bravo-key-22"));
  EXPECT_TRUE(key_matches(kKeys, "c"));
  EXPECT_FALSE(key_matches(kKeys, "alpha-key-"));    // a prefix
  EXPECT_FALSE(key_matches(kKeys, "alpha-key-11"));  // longer
  EXPECT_FALSE(key_matches(kKeys, "alpha-key-2"));   // same length, last byte differs
  EXPECT_FALSE(key_matches(kKeys, "Alpha-key-1"));   // case matters
  EXPECT_FALSE(key_matches(kKeys, "alpha-key-1 "));
  EXPECT_FALSE(key_matches(kKeys, "cc"));
  EXPECT_FALSE(key_matches(kKeys, std::string("c\0", 2)));  // a NUL is not an end
  EXPECT_FALSE(key_matches(kKeys, ""));
}

TEST(KeyMatches, EmptyCandidateIsRefusedEvenAgainstAnEmptyKey) {
  EXPECT_FALSE(key_matches({""}, ""));
  EXPECT_FALSE(key_matches({"", "k"}, ""));
  EXPECT_TRUE(key_matches({"", "k"}, "k"));
  EXPECT_FALSE(key_matches({}, "k"));
  EXPECT_FALSE(key_matches({}, ""));
}

TEST(KeyMatches, AnyOfManyKeys) {
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("key-" + std::to_string(i));
  EXPECT_TRUE(key_matches(keys, "key-0"));
  EXPECT_TRUE(key_matches(keys, "key-57"));
  EXPECT_TRUE(key_matches(keys, "key-99"));
  EXPECT_FALSE(key_matches(keys, "key-100"));
  EXPECT_FALSE(key_matches(keys, "key-"));
}

TEST(KeyFromHeader, BearerWithTheSchemeInAnyCase) {
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(key_from_header(with_headers({{"authorization", "bearer abc"}})), "abc");
  EXPECT_EQ(key_from_header(with_headers({{"AUTHORIZATION", "BEARER abc"}})), "abc");
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "BeArEr a.b-c_d~e+f/g="}})), "a.b-c_d~e+f/g=");
}

TEST(KeyFromHeader, ExtraSpacesAroundTheKeyAreNotPartOfIt) {
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Bearer    abc"}})), "abc");
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Bearer abc   "}})), "abc");
}

TEST(KeyFromHeader, AnotherSchemeOrNoKeyIsNoKey) {
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Bearerabc"}})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Bearer"}})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", "Token abc"}})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"Authorization", ""}})), nullopt);
  // "Bearer " with nothing after it yields an empty key, which never matches.
  auto blank = key_from_header(with_headers({{"Authorization", "Bearer   "}}));
  EXPECT_TRUE(!blank || blank->empty());
}

TEST(KeyFromHeader, AbsentHeader) {
  EXPECT_EQ(key_from_header(with_headers({})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"X-Authorization", "Bearer abc"}, {"Cookie", "key=abc"}})), nullopt);
  EXPECT_EQ(key_from_header(with_headers({{"Cookie", "a=b"}, {"Authorization", "Bearer k2"}})), "k2");
}

TEST(KeyFromQuery, FirstMiddleAndLastParameter) {
  EXPECT_EQ(key_from_query("/s?key=abc", "key"), "abc");
  EXPECT_EQ(key_from_query("/s?key=abc&room=1", "key"), "abc");
  EXPECT_EQ(key_from_query("/s?room=1&key=abc&x=2", "key"), "abc");
  EXPECT_EQ(key_from_query("/s?room=1&key=abc", "key"), "abc");
  EXPECT_EQ(key_from_query("/s?room=1&token=t", "token"), "t");
  EXPECT_EQ(key_from_query("/s?key=first&key=second", "key"), nullopt) << "a backend may read the second";
  EXPECT_EQ(key_from_query("/s?key=first&x=1&key", "key"), nullopt);
}

TEST(KeyFromQuery, PercentDecoding) {
  EXPECT_EQ(key_from_query("/s?key=a%2Fb%3d%3D", "key"), "a/b==");
  EXPECT_EQ(key_from_query("/s?key=%41%62%63", "key"), "Abc");
  EXPECT_EQ(key_from_query("/s?key=a%26b&x=1", "key"), "a&b");
  EXPECT_EQ(key_from_query("/s?key=%25", "key"), "%");
  EXPECT_EQ(key_from_query("/s?key=a+b", "key"), "a+b");  // not form encoding: base64 keys keep their '+'
  EXPECT_EQ(key_from_query("/s?key=a%2Bb", "key"), "a+b");
}

TEST(KeyFromQuery, BadEncodingIsNoKey) {
  EXPECT_EQ(key_from_query("/s?key=abc%", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?key=abc%4", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?key=abc%4&x=1", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?key=%zz", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?key=%g1", "key"), nullopt);
}

TEST(KeyFromQuery, OnlyTheWholeNameMatches) {
  EXPECT_EQ(key_from_query("/s?key2=abc", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?key2=abc&key=def", "key"), "def");
  EXPECT_EQ(key_from_query("/s?mykey=abc", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?ke=abc", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?KEY=abc", "key"), nullopt);
}

TEST(KeyFromQuery, NoQueryOrNoValue) {
  EXPECT_EQ(key_from_query("/s", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s?&&", "key"), nullopt);
  EXPECT_EQ(key_from_query("/s/key=abc", "key"), nullopt);
  // Present without a value: an empty key (which never matches).
  EXPECT_EQ(key_from_query("/s?key", "key"), "");
  EXPECT_EQ(key_from_query("/s?key=", "key"), "");
  EXPECT_EQ(key_from_query("/s?x=1&key&y=2", "key"), "");
}

TEST(CheckFirstMessage, AKeyInTheField) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message(R"({"key":"alpha-key-1"})", a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"op":"subscribe","key":"c","x":[1,2]})", a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(" \r\n\t {\"key\": \"bravo-key-22\"}  \n", a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"key":"alpha\u002dkey-1"})", a), FirstMessageAuth::ok);  // JSON escapes
  const conf::Auth other = auth_of(conf::AuthFrom::first_message, "token");
  EXPECT_EQ(check_first_message(R"({"key":"nope","token":"c"})", other), FirstMessageAuth::ok);
  // A field name with a dot is one name, not a path.
  const conf::Auth dotted = auth_of(conf::AuthFrom::first_message, "auth.key");
  EXPECT_EQ(check_first_message(R"({"auth.key":"c"})", dotted), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"auth":{"key":"c"}})", dotted), FirstMessageAuth::no_field);
}

// Found with tests/fuzz/auth_json.cpp: 16 KiB of nesting took the JSON reader
// ~100 ms of a worker's loop. Deeper than 16 levels is refused unread.
TEST(CheckFirstMessage, DeepNestingIsNotAKeyMessage) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message(R"({"key":"c","x":)" + std::string(16000, '['), a), FirstMessageAuth::not_json);
  std::string deep_objects = R"({"key":"c")";
  for (int i = 0; i < 16; ++i) deep_objects += R"(,"a":{"b":1)";
  deep_objects += std::string(16, '}') + "}";
  EXPECT_EQ(check_first_message(deep_objects, a), FirstMessageAuth::not_json);
  // Sixteen levels in all still read; brackets inside strings do not count.
  std::string sixteen = R"({"key":"c","x":)" + std::string(15, '[') + std::string(15, ']') + "}";
  EXPECT_EQ(check_first_message(sixteen, a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"key":"c","s":")" + std::string(100, '[') + R"(\"{"})", a), FirstMessageAuth::ok);
}

TEST(CheckFirstMessage, WrongKey) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message(R"({"key":"alpha-key-2"})", a), FirstMessageAuth::wrong_key);
  EXPECT_EQ(check_first_message(R"({"key":""})", a), FirstMessageAuth::wrong_key);
  EXPECT_EQ(check_first_message(R"({"key":"alpha-key-1 "})", a), FirstMessageAuth::wrong_key);
}

TEST(CheckFirstMessage, MissingField) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message(R"({})", a), FirstMessageAuth::no_field);
  EXPECT_EQ(check_first_message(R"({"Key":"c"})", a), FirstMessageAuth::no_field);
  EXPECT_EQ(check_first_message(R"({"inner":{"key":"c"}})", a), FirstMessageAuth::no_field);
}

TEST(CheckFirstMessage, AFieldThatIsNotAStringIsNoKey) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message(R"({"key":{"k":"c"}})", a), FirstMessageAuth::no_field);
  EXPECT_EQ(check_first_message(R"({"key":["c"]})", a), FirstMessageAuth::no_field);
  EXPECT_NE(check_first_message(R"({"key":{}})", a), FirstMessageAuth::ok);
  EXPECT_NE(check_first_message(R"({"key":[]})", a), FirstMessageAuth::ok);
  EXPECT_NE(check_first_message(R"({"key":null})", a), FirstMessageAuth::ok);
  EXPECT_NE(check_first_message(R"({"key":true})", a), FirstMessageAuth::ok);
}

// The contract is "a string field"; property_tree keeps numbers, true, false
// and null as text, so a value that spells a key must not pass either.
// Documented: the field is read as text, so a bare number spelling a key is
// that key (Debian 12's Boost has no JSON DOM that tells the two apart).
TEST(CheckFirstMessage, ABareNumberOrWordIsReadAsItsText) {
  conf::Auth a = auth_of(conf::AuthFrom::first_message);
  a.keys = {"12345", "true"};
  EXPECT_EQ(check_first_message(R"({"key":"12345"})", a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"key":12345})", a), FirstMessageAuth::ok);
  EXPECT_EQ(check_first_message(R"({"key":true})", a), FirstMessageAuth::ok);
  EXPECT_NE(check_first_message(R"({"key":123456})", a), FirstMessageAuth::ok);
  EXPECT_NE(check_first_message(R"({"key":null})", a), FirstMessageAuth::ok);
}

TEST(CheckFirstMessage, NotAJsonObject) {
  const conf::Auth a = auth_of(conf::AuthFrom::first_message);
  EXPECT_EQ(check_first_message("", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message("   ", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message("alpha-key-1", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"("alpha-key-1")", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"([{"key":"c"}])", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"(["key","c"])", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"({"key":"c")", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"({"key":"c"} trailing)", a), FirstMessageAuth::not_json);
  EXPECT_EQ(check_first_message(R"({key:"c"})", a), FirstMessageAuth::not_json);
}

TEST(HandshakeAuth, FirstMessageAlwaysPassesHere) {
  std::string why;
  EXPECT_TRUE(handshake_auth_ok(auth_of(conf::AuthFrom::first_message), with_headers({}), why));
  EXPECT_TRUE(why.empty());
}

TEST(HandshakeAuth, Header) {
  const conf::Auth a = auth_of(conf::AuthFrom::header);
  std::string why;
  EXPECT_TRUE(handshake_auth_ok(a, with_headers({{"Authorization", "Bearer bravo-key-22"}}), why));
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}), why));
  EXPECT_FALSE(why.empty());
  why.clear();
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({{"Authorization", "Bearer wrong-secret"}}), why));
  EXPECT_NE(why.find("fxkeys"), std::string::npos);
  EXPECT_EQ(why.find("wrong-secret"), std::string::npos) << "the key is logged: " << why;
  why.clear();
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({{"Authorization", "Bearer "}}), why));
  // The query does not count for a header auth.
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}, "/s?key=c"), why));
}

TEST(HandshakeAuth, Query) {
  const conf::Auth a = auth_of(conf::AuthFrom::query, "token");
  std::string why;
  EXPECT_TRUE(handshake_auth_ok(a, with_headers({}, "/s?x=1&token=alpha-key-1"), why));
  EXPECT_TRUE(handshake_auth_ok(a, with_headers({}, "/s?token=bravo%2Dkey-22"), why));
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}, "/s?key=alpha-key-1"), why));
  EXPECT_NE(why.find("token"), std::string::npos);
  why.clear();
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}, "/s?token=sekrit-guess"), why));
  EXPECT_EQ(why.find("sekrit-guess"), std::string::npos) << "the key is logged: " << why;
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}, "/s?token="), why));
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({}, "/s?token=%zz"), why));
  // The header does not count for a query auth.
  EXPECT_FALSE(handshake_auth_ok(a, with_headers({{"Authorization", "Bearer c"}}, "/s"), why));
}

}  // namespace
}  // namespace wsgate::worker
