// MessageRules: the close code for every framing rule of checklist rows F1,
// F4, F5, F7, F9, F10, F11 and F12, and 0 for the valid input next to each.
#include "worker/ws/message_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace wsgate::worker {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kOk = 0;
constexpr uint16_t k1002 = 1002;
constexpr uint16_t k1007 = 1007;
constexpr uint16_t k1009 = 1009;

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

RuleLimits client_limits() {
  RuleLimits l;
  l.expect_masked = true;
  return l;
}

RuleLimits backend_limits() {
  RuleLimits l;
  l.expect_masked = false;
  return l;
}

// Which call answered.
enum class At { none, start, payload, end };

struct Result {
  uint16_t code = 0;
  At at = At::none;
};

// Drives one frame through the rules the way the relay does: start, payload
// in `pieces` (sizes; the rest in one last call), end. Stops at the first
// nonzero answer.
Result drive(MessageRules& r, uint8_t op, const Bytes& payload, bool fin, bool masked, uint8_t rsv = 0,
             std::vector<size_t> pieces = {}) {
  FrameHead h{fin, rsv, op, payload.size(), masked};
  if (uint16_t c = r.on_frame_start(h)) {
    return {c, At::start};
  }
  // Like the codec's chunks: never a null pointer, even for an empty frame.
  static const uint8_t kNothing = 0;
  const uint8_t* data = payload.empty() ? &kNothing : payload.data();
  size_t off = 0;
  pieces.push_back(payload.size());
  for (size_t want : pieces) {
    size_t n = std::min(want, payload.size() - off);
    if (n == 0 && off < payload.size()) {
      continue;
    }
    if (uint16_t c = r.on_payload(data + off, n)) {
      return {c, At::payload};
    }
    off += n;
    if (off == payload.size()) {
      break;
    }
  }
  if (uint16_t c = r.on_frame_end()) {
    return {c, At::end};
  }
  return {};
}

// A client's frame (masked) through client rules.
uint16_t cf(MessageRules& r, uint8_t op, const Bytes& payload = {}, bool fin = true) {
  return drive(r, op, payload, fin, true).code;
}

// A frame with a declared length but no payload bytes given yet (only the start check).
uint16_t start_only(MessageRules& r, uint8_t op, uint64_t length, bool fin = true, bool masked = true) {
  return r.on_frame_start(FrameHead{fin, 0, op, length, masked});
}

Bytes close_body(uint16_t code, const Bytes& reason = {}) {
  // Sized first: GCC 12 warns (-Warray-bounds, wrongly) on inserting into a
  // two-byte vector built from an initializer list.
  Bytes b(2 + reason.size());
  b[0] = static_cast<uint8_t>(code >> 8);
  b[1] = static_cast<uint8_t>(code);
  std::copy(reason.begin(), reason.end(), b.begin() + 2);
  return b;
}

// ---------------------------------------------------------------- F1 / F2

TEST(MessageRulesMasking, UnmaskedClientFrameIs1002) {
  for (uint8_t op : {opcode::text, opcode::binary, opcode::ping, opcode::pong, opcode::close}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    MessageRules r(client_limits());
    Result res = drive(r, op, bytes_of("hi"), true, false);
    EXPECT_EQ(res.code, k1002);
    EXPECT_EQ(res.at, At::start) << "refused before any payload byte";
  }
  // An unmasked continuation inside a message opened by a masked frame.
  MessageRules r(client_limits());
  EXPECT_EQ(drive(r, opcode::text, bytes_of("a"), false, true).code, kOk);
  EXPECT_EQ(drive(r, opcode::continuation, bytes_of("b"), true, false).code, k1002);
}

TEST(MessageRulesMasking, MaskedClientFrameIsValid) {
  for (uint8_t op : {opcode::text, opcode::binary, opcode::ping, opcode::pong, opcode::close}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    MessageRules r(client_limits());
    EXPECT_EQ(drive(r, op, op == opcode::close ? close_body(1000) : bytes_of("hi"), true, true).code, kOk);
  }
}

TEST(MessageRulesMasking, MaskedBackendFrameIs1002) {
  for (uint8_t op : {opcode::text, opcode::binary, opcode::ping, opcode::pong, opcode::close}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    MessageRules r(backend_limits());
    Result res = drive(r, op, bytes_of("hi"), true, true);
    EXPECT_EQ(res.code, k1002);
    EXPECT_EQ(res.at, At::start);
  }
  MessageRules r(backend_limits());
  EXPECT_EQ(drive(r, opcode::binary, bytes_of("a"), false, false).code, kOk);
  EXPECT_EQ(drive(r, opcode::continuation, bytes_of("b"), true, true).code, k1002);
}

TEST(MessageRulesMasking, UnmaskedBackendFrameIsValid) {
  for (uint8_t op : {opcode::text, opcode::binary, opcode::ping, opcode::pong, opcode::close}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    MessageRules r(backend_limits());
    EXPECT_EQ(drive(r, op, op == opcode::close ? close_body(1001) : bytes_of("hi"), true, false).code, kOk);
  }
}

// ---------------------------------------------------------------- F4

TEST(MessageRulesRsv, AnyRsvBitIs1002) {
  for (uint8_t rsv = 1; rsv <= 7; ++rsv) {
    for (uint8_t op : {opcode::text, opcode::binary, opcode::ping, opcode::pong, opcode::close}) {
      SCOPED_TRACE("rsv " + std::to_string(rsv) + " opcode " + std::to_string(op));
      MessageRules r(client_limits());
      Result res = drive(r, op, {}, true, true, rsv);
      EXPECT_EQ(res.code, k1002);
      EXPECT_EQ(res.at, At::start);
    }
    // On a continuation (e.g. RSV1 on a non-first fragment, F16).
    MessageRules r(client_limits());
    ASSERT_EQ(cf(r, opcode::binary, bytes_of("x"), false), kOk);
    EXPECT_EQ(drive(r, opcode::continuation, bytes_of("y"), true, true, rsv).code, k1002);
  }
}

TEST(MessageRulesRsv, NoRsvIsValid) {
  MessageRules r(client_limits());
  EXPECT_EQ(drive(r, opcode::binary, bytes_of("x"), false, true, 0).code, kOk);
  EXPECT_EQ(drive(r, opcode::continuation, bytes_of("y"), true, true, 0).code, kOk);
}

// ---------------------------------------------------------------- F5

TEST(MessageRulesOpcodes, ReservedOpcodesAre1002) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    SCOPED_TRACE("opcode " + std::to_string(op));
    for (bool fin : {true, false}) {
      MessageRules r(client_limits());
      Result res = drive(r, op, bytes_of("p"), fin, true);
      EXPECT_EQ(res.code, k1002);
      EXPECT_EQ(res.at, At::start);
    }
    // Also inside an open message.
    MessageRules r(client_limits());
    ASSERT_EQ(cf(r, opcode::text, bytes_of("a"), false), kOk);
    EXPECT_EQ(cf(r, op, bytes_of("p")), k1002);
    // And from a backend.
    MessageRules b(backend_limits());
    EXPECT_EQ(drive(b, op, {}, true, false).code, k1002);
  }
}

TEST(MessageRulesOpcodes, DefinedOpcodesAreValid) {
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::text, bytes_of("t")), kOk);
  EXPECT_EQ(cf(r, opcode::binary, bytes_of("b")), kOk);
  EXPECT_EQ(cf(r, opcode::ping), kOk);
  EXPECT_EQ(cf(r, opcode::pong), kOk);
  EXPECT_EQ(cf(r, opcode::text, bytes_of("t"), false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, bytes_of("c")), kOk);
  EXPECT_EQ(cf(r, opcode::close), kOk);
}

// ---------------------------------------------------------------- F7

TEST(MessageRulesFragmentation, ContinuationWithNoMessageOpenIs1002) {
  for (bool fin : {true, false}) {
    MessageRules r(client_limits());
    Result res = drive(r, opcode::continuation, bytes_of("c"), fin, true);
    EXPECT_EQ(res.code, k1002);
    EXPECT_EQ(res.at, At::start);
  }
  // After a message has ended, there is nothing to continue either.
  MessageRules r(client_limits());
  ASSERT_EQ(cf(r, opcode::text, bytes_of("whole")), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, bytes_of("c")), k1002);
  MessageRules r2(client_limits());
  ASSERT_EQ(cf(r2, opcode::binary, bytes_of("a"), false), kOk);
  ASSERT_EQ(cf(r2, opcode::continuation, bytes_of("b"), true), kOk);
  EXPECT_EQ(cf(r2, opcode::continuation, bytes_of("c"), true), k1002);
  // A control frame does not open a message.
  MessageRules r3(client_limits());
  ASSERT_EQ(cf(r3, opcode::ping), kOk);
  EXPECT_EQ(cf(r3, opcode::continuation, bytes_of("c")), k1002);
}

TEST(MessageRulesFragmentation, DataFrameWhileAMessageIsOpenIs1002) {
  for (uint8_t first : {opcode::text, opcode::binary}) {
    for (uint8_t second : {opcode::text, opcode::binary}) {
      for (bool fin : {true, false}) {
        SCOPED_TRACE(std::to_string(first) + " then " + std::to_string(second) + (fin ? " fin" : ""));
        MessageRules r(client_limits());
        ASSERT_EQ(cf(r, first, bytes_of("a"), false), kOk);
        Result res = drive(r, second, bytes_of("b"), fin, true);
        EXPECT_EQ(res.code, k1002);
        EXPECT_EQ(res.at, At::start);
      }
    }
  }
  // Also after a continuation that did not end the message.
  MessageRules r(client_limits());
  ASSERT_EQ(cf(r, opcode::text, bytes_of("a"), false), kOk);
  ASSERT_EQ(cf(r, opcode::continuation, bytes_of("b"), false), kOk);
  EXPECT_EQ(cf(r, opcode::text, bytes_of("c")), k1002);
}

TEST(MessageRulesFragmentation, ControlFramesBetweenFragmentsAreValid) {
  struct Ctl {
    uint8_t op;
    Bytes body;
  };
  const Ctl ctls[] = {{opcode::ping, bytes_of("p")},
                      {opcode::pong, {}},
                      {opcode::close, close_body(1000, bytes_of("bye"))},
                      {opcode::close, {}}};
  for (uint8_t first : {opcode::text, opcode::binary}) {
    for (const Ctl& ctl : ctls) {
      SCOPED_TRACE("message " + std::to_string(first) + ", control " + std::to_string(ctl.op));
      MessageRules r(client_limits());
      EXPECT_EQ(cf(r, first, bytes_of("fra"), false), kOk);
      EXPECT_EQ(cf(r, ctl.op, ctl.body), kOk);
      EXPECT_TRUE(r.current_is_control());
      EXPECT_EQ(cf(r, opcode::continuation, bytes_of("gm"), false), kOk);
      EXPECT_EQ(cf(r, ctl.op, ctl.body), kOk);
      EXPECT_EQ(cf(r, opcode::continuation, bytes_of("ent"), true), kOk);
      EXPECT_FALSE(r.current_is_control());
      // The message ended; a new one may start, a continuation may not.
      EXPECT_EQ(cf(r, opcode::continuation, bytes_of("x")), k1002);
      MessageRules r2(client_limits());
      EXPECT_EQ(cf(r2, first, bytes_of("fra"), false), kOk);
      EXPECT_EQ(cf(r2, ctl.op, ctl.body), kOk);
      EXPECT_EQ(cf(r2, opcode::continuation, bytes_of("g"), true), kOk);
      EXPECT_EQ(cf(r2, opcode::text, bytes_of("new")), kOk);
    }
  }
}

TEST(MessageRulesFragmentation, ControlFrameDoesNotCloseTheOpenMessage) {
  // After a ping between fragments the message is still open: a new data
  // frame is still a protocol error.
  MessageRules r(client_limits());
  ASSERT_EQ(cf(r, opcode::binary, bytes_of("a"), false), kOk);
  ASSERT_EQ(cf(r, opcode::ping, bytes_of("p")), kOk);
  EXPECT_EQ(cf(r, opcode::binary, bytes_of("b")), k1002);
}

TEST(MessageRulesFragmentation, ManyMessagesInARow) {
  MessageRules r(client_limits());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(cf(r, i % 2 ? opcode::text : opcode::binary, bytes_of("a"), false), kOk) << i;
    ASSERT_EQ(cf(r, opcode::continuation, bytes_of("b"), false), kOk) << i;
    ASSERT_EQ(cf(r, opcode::continuation, bytes_of("c"), true), kOk) << i;
    ASSERT_EQ(cf(r, opcode::text, bytes_of("single")), kOk) << i;
  }
}

// ---------------------------------------------------------------- F9

TEST(MessageRulesSize, DeclaredLengthOverMaxMessageIs1009) {
  RuleLimits l = client_limits();
  l.max_message = 100;
  for (uint8_t op : {opcode::text, opcode::binary}) {
    MessageRules ok(l);
    EXPECT_EQ(start_only(ok, op, 100), kOk);
    MessageRules bad(l);
    EXPECT_EQ(start_only(bad, op, 101), k1009) << "refused on the declared length, before any payload";
    MessageRules huge(l);
    EXPECT_EQ(start_only(huge, op, UINT64_MAX), k1009);
    MessageRules top(l);
    EXPECT_EQ(start_only(top, op, (1ull << 63) - 1), k1009);
  }
}

TEST(MessageRulesSize, DefaultLimitIs16MiB) {
  MessageRules ok(client_limits());
  EXPECT_EQ(start_only(ok, opcode::binary, 16u * 1024 * 1024), kOk);
  MessageRules bad(client_limits());
  EXPECT_EQ(start_only(bad, opcode::binary, 16u * 1024 * 1024 + 1), k1009);
}

TEST(MessageRulesSize, MessageOverMaxAcrossFragmentsIs1009) {
  RuleLimits l = client_limits();
  l.max_message = 100;
  {
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::text, Bytes(60, 'a'), false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, Bytes(40, 'b'), true), kOk) << "exactly max_message is allowed";
  }
  {
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::binary, Bytes(60, 'a'), false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, Bytes(30, 'b'), false), kOk);
    Result res = drive(r, opcode::continuation, Bytes(11, 'c'), true, true);
    EXPECT_EQ(res.code, k1009);
    EXPECT_EQ(res.at, At::start);
  }
  {
    // A declared length that would wrap a naive sum.
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::binary, Bytes(60, 'a'), false), kOk);
    EXPECT_EQ(start_only(r, opcode::continuation, UINT64_MAX - 10), k1009);
  }
  {
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::binary, Bytes(60, 'a'), false), kOk);
    EXPECT_EQ(start_only(r, opcode::continuation, UINT64_MAX - 59), k1009);
  }
}

TEST(MessageRulesSize, EachMessageHasItsOwnBudget) {
  RuleLimits l = client_limits();
  l.max_message = 100;
  MessageRules r(l);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(cf(r, opcode::binary, Bytes(50, 'a'), false), kOk) << i;
    ASSERT_EQ(cf(r, opcode::continuation, Bytes(50, 'b'), true), kOk) << i;
    ASSERT_EQ(cf(r, opcode::text, Bytes(100, 'c'), true), kOk) << i;
  }
}

TEST(MessageRulesSize, ControlFramesDoNotCountTowardTheMessage) {
  RuleLimits l = client_limits();
  l.max_message = 100;
  MessageRules r(l);
  EXPECT_EQ(cf(r, opcode::binary, Bytes(60, 'a'), false), kOk);
  EXPECT_EQ(cf(r, opcode::ping, Bytes(125, 'p')), kOk);
  EXPECT_EQ(cf(r, opcode::pong, Bytes(125, 'p')), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes(40, 'b'), true), kOk);
}

// ---------------------------------------------------------------- F10

TEST(MessageRulesFragments, MoreThanMaxFragmentsIs1009) {
  RuleLimits l = client_limits();
  l.max_fragments = 4;
  {
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::text, bytes_of("1"), false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, bytes_of("2"), false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, bytes_of("3"), false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, bytes_of("4"), true), kOk) << "exactly max_fragments frames are allowed";
  }
  {
    MessageRules r(l);
    EXPECT_EQ(cf(r, opcode::binary, {}, false), kOk);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(cf(r, opcode::continuation, {}, false), kOk) << i;
    }
    Result res = drive(r, opcode::continuation, {}, true, true);
    EXPECT_EQ(res.code, k1009) << "a fifth empty fragment";
    EXPECT_EQ(res.at, At::start);
  }
}

TEST(MessageRulesFragments, EndlessTinyFragmentsAreCapped) {
  RuleLimits l = client_limits();
  l.max_fragments = 4096;
  MessageRules r(l);
  ASSERT_EQ(cf(r, opcode::binary, bytes_of("x"), false), kOk);
  uint16_t code = 0;
  int frames = 1;
  while (code == 0 && frames < 10000) {
    code = cf(r, opcode::continuation, bytes_of("x"), false);
    ++frames;
  }
  EXPECT_EQ(code, k1009);
  EXPECT_EQ(frames, 4097);
}

TEST(MessageRulesFragments, CountIsPerMessageAndIgnoresControlFrames) {
  RuleLimits l = client_limits();
  l.max_fragments = 3;
  MessageRules r(l);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(cf(r, opcode::text, bytes_of("a"), false), kOk) << i;
    ASSERT_EQ(cf(r, opcode::ping), kOk) << i;
    ASSERT_EQ(cf(r, opcode::continuation, bytes_of("b"), false), kOk) << i;
    ASSERT_EQ(cf(r, opcode::pong), kOk) << i;
    ASSERT_EQ(cf(r, opcode::ping), kOk) << i;
    ASSERT_EQ(cf(r, opcode::continuation, bytes_of("c"), true), kOk) << i;
  }
}

// ---------------------------------------------------------------- F11

TEST(MessageRulesUtf8, InvalidUtf8SplitAcrossFragmentsIs1007) {
  // E2 82 | 28: a three-byte lead, one continuation, then '(' instead of a continuation.
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::text, Bytes{'a', 0xE2, 0x82}, false), kOk) << "a valid prefix";
  Result res = drive(r, opcode::continuation, Bytes{0x28, 'b'}, true, true);
  EXPECT_EQ(res.code, k1007);
  EXPECT_EQ(res.at, At::payload);
}

TEST(MessageRulesUtf8, ValidCharacterSplitAcrossFragmentsAndReadsIsValid) {
  // U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) cut at every byte, with a ping between.
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::text, Bytes{0xE2}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0x82}, false), kOk);
  EXPECT_EQ(cf(r, opcode::ping, Bytes{0xFF, 0xFE}), kOk) << "a ping's payload is not text";
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0xAC, 0xF0}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, {}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0x9F, 0x98}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0x80}, true), kOk);
  // Within one frame, cut over several payload calls.
  MessageRules r2(client_limits());
  const Bytes s{'x', 0xF0, 0x9F, 0x98, 0x80, 0xE2, 0x82, 0xAC, 'y'};
  EXPECT_EQ(drive(r2, opcode::text, s, true, true, 0, {1, 1, 1, 1, 1, 1, 1, 1}).code, kOk);
}

TEST(MessageRulesUtf8, InvalidUtf8InOneFrameIs1007) {
  const Bytes bad[] = {
      {0xFF},                    // never valid
      {0xC0, 0xAF},              // overlong '/'
      {0xE0, 0x80, 0xAF},        // overlong
      {0xED, 0xA0, 0x80},        // UTF-16 surrogate U+D800
      {0xF4, 0x90, 0x80, 0x80},  // past U+10FFFF
      {0x80},                    // lone continuation
      {'o', 'k', 0xC3, 'x'},     // lead then ASCII
  };
  for (const Bytes& b : bad) {
    SCOPED_TRACE(::testing::PrintToString(b));
    MessageRules r(client_limits());
    EXPECT_EQ(cf(r, opcode::text, b), k1007);
    MessageRules b2(backend_limits());
    EXPECT_EQ(drive(b2, opcode::text, b, true, false).code, k1007);
  }
  // The same bytes after many ASCII bytes (past any 8-byte fast path).
  MessageRules r(client_limits());
  Bytes long_bad(37, 'a');
  long_bad.push_back(0xC0);
  long_bad.push_back(0xAF);
  long_bad.insert(long_bad.end(), 20, 'b');
  EXPECT_EQ(cf(r, opcode::text, long_bad), k1007);
}

TEST(MessageRulesUtf8, TextMessageEndingMidCharacterIs1007) {
  {
    MessageRules r(client_limits());
    Result res = drive(r, opcode::text, Bytes{'a', 0xE2, 0x82}, true, true);
    EXPECT_EQ(res.code, k1007);
    EXPECT_EQ(res.at, At::end);
  }
  {
    // The lead byte in one fragment, the message ended by an empty final fragment.
    MessageRules r(client_limits());
    EXPECT_EQ(cf(r, opcode::text, Bytes{0xF0, 0x9F}, false), kOk);
    Result res = drive(r, opcode::continuation, {}, true, true);
    EXPECT_EQ(res.code, k1007);
    EXPECT_EQ(res.at, At::end);
  }
  {
    // A fragment may end mid-character as long as the message does not.
    MessageRules r(client_limits());
    EXPECT_EQ(cf(r, opcode::text, Bytes{0xC3}, false), kOk);
    EXPECT_EQ(cf(r, opcode::continuation, Bytes{0xA9}, true), kOk);
  }
}

TEST(MessageRulesUtf8, ValidateUtf8FalseLetsItPass) {
  RuleLimits l = client_limits();
  l.validate_utf8 = false;
  MessageRules r(l);
  EXPECT_EQ(cf(r, opcode::text, Bytes{'a', 0xE2, 0x82}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0x28, 0xFF}, true), kOk);
  EXPECT_EQ(cf(r, opcode::text, Bytes{0xC0, 0xAF}), kOk);
  EXPECT_EQ(cf(r, opcode::text, Bytes{'a', 0xE2}), kOk) << "ends mid-character";
  EXPECT_EQ(cf(r, opcode::text, Bytes{0xED, 0xA0, 0x80}), kOk);
}

TEST(MessageRulesUtf8, BinaryIsNeverUtf8Checked) {
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::binary, Bytes{0xFF, 0xFE, 0xC0, 0xAF}), kOk);
  EXPECT_EQ(cf(r, opcode::binary, Bytes{'a', 0xE2}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0x28}, false), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0xF0}, true), kOk) << "ends mid-character";
  // And a text message after it starts from a clean state.
  EXPECT_EQ(cf(r, opcode::text, bytes_of("clean")), kOk);
}

TEST(MessageRulesUtf8, TextAfterABinaryMessageIsCheckedAgain) {
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::binary, Bytes{0xFF}), kOk);
  EXPECT_EQ(cf(r, opcode::text, Bytes{0xFF}), k1007);
}

// ---------------------------------------------------------------- F12

uint16_t close_answer(const Bytes& body, bool from_backend = false) {
  MessageRules r(from_backend ? backend_limits() : client_limits());
  Result res = drive(r, opcode::close, body, true, !from_backend);
  if (res.code != 0) {
    EXPECT_EQ(res.at, At::end) << "a close body is judged when it is whole";
  }
  return res.code;
}

TEST(MessageRulesClose, EmptyBodyIsValid) {
  EXPECT_EQ(close_answer({}), kOk);
  EXPECT_EQ(close_answer({}, true), kOk);
}

TEST(MessageRulesClose, OneByteBodyIs1002) {
  for (uint8_t b : {0x00, 0x03, 0xE8, 0xFF}) {
    EXPECT_EQ(close_answer(Bytes{b}), k1002) << int{b};
    EXPECT_EQ(close_answer(Bytes{b}, true), k1002) << int{b};
  }
}

TEST(MessageRulesClose, ForbiddenCodesAre1002) {
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 5001, 65535}) {
    SCOPED_TRACE(code);
    EXPECT_EQ(close_answer(close_body(code)), k1002);
    EXPECT_EQ(close_answer(close_body(code, bytes_of("why")), true), k1002);
  }
}

TEST(MessageRulesClose, AllowedCodesAreValid) {
  for (uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    SCOPED_TRACE(code);
    EXPECT_EQ(close_answer(close_body(code)), kOk);
    EXPECT_EQ(close_answer(close_body(code, bytes_of("reason")), true), kOk);
  }
}

TEST(MessageRulesClose, ReasonMustBeUtf8) {
  EXPECT_EQ(close_answer(close_body(1000, Bytes{'b', 'y', 0xFF})), k1007);
  EXPECT_EQ(close_answer(close_body(1000, Bytes{0xC0, 0xAF})), k1007);
  EXPECT_EQ(close_answer(close_body(1000, Bytes{0xED, 0xA0, 0x80})), k1007);
  EXPECT_EQ(close_answer(close_body(1001, Bytes{'x', 0xE2, 0x82})), k1007) << "reason ends mid-character";
  EXPECT_EQ(close_answer(close_body(4000, Bytes{0xFF}), true), k1007);
  // Valid multi-byte reasons, and the longest possible body.
  EXPECT_EQ(close_answer(close_body(1000, Bytes{0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80})), kOk);
  EXPECT_EQ(close_answer(close_body(1000, Bytes(123, 'z'))), kOk);
  Bytes long_bad(122, 'z');
  long_bad.push_back(0xC3);
  EXPECT_EQ(close_answer(close_body(1000, long_bad)), k1007);
}

TEST(MessageRulesClose, ReasonCheckIsNotAffectedByAnOpenTextMessage) {
  // A text message open mid-character: the close reason is judged on its own,
  // and the message's state survives the close frame.
  MessageRules r(client_limits());
  EXPECT_EQ(cf(r, opcode::text, Bytes{0xE2, 0x82}, false), kOk);
  EXPECT_EQ(cf(r, opcode::close, close_body(1000, bytes_of("ok"))), kOk);
  EXPECT_EQ(cf(r, opcode::continuation, Bytes{0xAC}, true), kOk);
}

TEST(MessageRulesClose, BodyFedInPiecesIsJudgedWhole) {
  MessageRules r(client_limits());
  const Bytes body = close_body(1000, Bytes{'o', 0xC3, 0xA9, 'k'});
  EXPECT_EQ(drive(r, opcode::close, body, true, true, 0, {1, 2, 1}).code, kOk);
  MessageRules r2(client_limits());
  const Bytes bad = close_body(1005);
  EXPECT_EQ(drive(r2, opcode::close, bad, true, true, 0, {1}).code, k1002);
}

// ---------------------------------------------------------------- control_payload

TEST(MessageRulesControlPayload, ReturnsWhatWasFed) {
  MessageRules r(client_limits());
  const Bytes ping = bytes_of("are you there?");
  ASSERT_EQ(drive(r, opcode::ping, ping, true, true, 0, {3, 0, 5}).code, kOk);
  EXPECT_TRUE(r.current_is_control());
  EXPECT_EQ(r.current_opcode(), opcode::ping);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), ping);

  Bytes max(125);
  for (size_t i = 0; i < max.size(); ++i) {
    max[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  ASSERT_EQ(drive(r, opcode::pong, max, true, true, 0, {60, 1}).code, kOk);
  EXPECT_EQ(r.current_opcode(), opcode::pong);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), max);

  // A new control frame starts from empty.
  ASSERT_EQ(cf(r, opcode::ping), kOk);
  EXPECT_EQ(r.control_payload().size(), 0u);

  const Bytes close = close_body(1001, bytes_of("going"));
  ASSERT_EQ(cf(r, opcode::close, close), kOk);
  EXPECT_EQ(r.current_opcode(), opcode::close);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), close);
}

TEST(MessageRulesControlPayload, SurvivesBetweenFragmentsAndDataIsNotKept) {
  MessageRules r(client_limits());
  ASSERT_EQ(cf(r, opcode::binary, bytes_of("data"), false), kOk);
  EXPECT_FALSE(r.current_is_control());
  EXPECT_EQ(r.current_opcode(), opcode::binary);
  ASSERT_EQ(cf(r, opcode::ping, bytes_of("between")), kOk);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), bytes_of("between"));
  ASSERT_EQ(cf(r, opcode::continuation, bytes_of("more"), true), kOk);
  EXPECT_EQ(r.current_opcode(), opcode::continuation);
  EXPECT_FALSE(r.current_is_control());
}

TEST(MessageRulesControlPayload, ReleasedAfterUseAndKeptAgainByTheNextControlFrame) {
  MessageRules r(client_limits());
  ASSERT_EQ(cf(r, opcode::ping, bytes_of("one")), kOk);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), bytes_of("one"));
  r.release_control();
  EXPECT_EQ(r.control_payload().size(), 0u);
  // Data frames need no buffer; the next control frame gets one again.
  ASSERT_EQ(cf(r, opcode::text, bytes_of("hi")), kOk);
  const Bytes close = close_body(1000, bytes_of("bye"));
  ASSERT_EQ(cf(r, opcode::close, close), kOk);
  EXPECT_EQ(Bytes(r.control_payload().begin(), r.control_payload().end()), close);
}

// ---------------------------------------------------------------- is_valid_wire_close_code

// RFC 6455 section 7.4, written out independently of the implementation:
//  - 0-999: not used;
//  - 1000-2999: reserved for this protocol; only the codes defined in 7.4.1
//    and the IANA "WebSocket Close Code Number" registry may be sent:
//    1000 normal, 1001 going away, 1002 protocol error, 1003 unsupported data,
//    1007 invalid payload, 1008 policy, 1009 too big, 1010 mandatory extension,
//    1011 internal error, 1012 service restart, 1013 try again later, 1014 bad gateway;
//    1004 is reserved, 1005/1006/1015 MUST NOT be sent in a close frame,
//    1016-2999 are unassigned;
//  - 3000-3999: registered by libraries/frameworks; 4000-4999: private use;
//  - 5000 and above: not defined.
bool rfc6455_wire_code(uint32_t code) {
  static const uint32_t kDefined[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014};
  for (uint32_t d : kDefined) {
    if (code == d) {
      return true;
    }
  }
  return code >= 3000 && code < 5000;
}

TEST(CloseCodes, EveryCodeMatchesRfc6455) {
  int valid = 0;
  for (uint32_t c = 0; c <= 65535; ++c) {
    const bool want = rfc6455_wire_code(c);
    const bool got = is_valid_wire_close_code(static_cast<uint16_t>(c));
    if (got != want) {
      ADD_FAILURE() << "code " << c << ": expected " << want << ", got " << got;
    }
    valid += want;
  }
  EXPECT_EQ(valid, 12 + 2000);
}

TEST(CloseCodes, NamedConstantsAreTheRfcNumbers) {
  EXPECT_EQ(close_code::normal, 1000);
  EXPECT_EQ(close_code::going_away, 1001);
  EXPECT_EQ(close_code::protocol_error, 1002);
  EXPECT_EQ(close_code::unsupported, 1003);
  EXPECT_EQ(close_code::no_status, 1005);
  EXPECT_EQ(close_code::invalid_payload, 1007);
  EXPECT_EQ(close_code::policy, 1008);
  EXPECT_EQ(close_code::too_big, 1009);
  EXPECT_EQ(close_code::internal_error, 1011);
  EXPECT_EQ(close_code::service_restart, 1012);
  EXPECT_EQ(close_code::try_later, 1013);
  EXPECT_EQ(close_code::bad_gateway, 1014);
  EXPECT_EQ(opcode::continuation, 0x0);
  EXPECT_EQ(opcode::text, 0x1);
  EXPECT_EQ(opcode::binary, 0x2);
  EXPECT_EQ(opcode::close, 0x8);
  EXPECT_EQ(opcode::ping, 0x9);
  EXPECT_EQ(opcode::pong, 0xA);
}

}  // namespace
}  // namespace wsgate::worker
