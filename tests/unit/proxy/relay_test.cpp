// The relay between two peers, without sockets: each peer's output is a
// buffer, input is built by this file's own encoder and output read by its
// own decoder (RFC 6455 section 5.2), so the relay is checked against the
// wire format rather than against wsgate's codec agreeing with itself.
#include "worker/proxy/relay.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/support/test_mask_source.h"
#include "worker/conn/keepalive.h"

namespace wsgate::worker {
namespace {

using Bytes = std::vector<uint8_t>;

using test_support::test_mask_source;

// One pool per output role, as a worker has.
FrameContextPool& pool(bool mask_output) {
  static FrameContextPool masked{test_mask_source}, unmasked{test_mask_source};
  return mask_output ? masked : unmasked;
}

// ------------------------------------------------------------ wire format

Bytes encode(uint8_t opcode, const std::string& payload, bool mask, bool fin = true) {
  static const uint8_t key[4] = {0x5a, 0x01, 0xc3, 0x7e};
  Bytes out;
  out.push_back(static_cast<uint8_t>((fin ? 0x80 : 0) | opcode));
  const uint64_t n = payload.size();
  const uint8_t mbit = mask ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<uint8_t>(mbit | n));
  } else {
    out.push_back(mbit | 126);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  }
  if (mask) {
    out.insert(out.end(), key, key + 4);
  }
  for (size_t i = 0; i < n; ++i) {
    const auto b = static_cast<uint8_t>(payload[i]);
    out.push_back(mask ? static_cast<uint8_t>(b ^ key[i % 4]) : b);
  }
  return out;
}

std::string close_body(uint16_t code, const std::string& reason = "") {
  std::string b;
  b.push_back(static_cast<char>(code >> 8));
  b.push_back(static_cast<char>(code & 0xff));
  return b + reason;
}

struct Frame {
  bool fin;
  uint8_t opcode;
  bool masked;
  std::string payload;  // unmasked
  uint16_t close_code() const {
    return payload.size() >= 2
               ? static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 | static_cast<uint8_t>(payload[1]))
               : 1005;
  }
};

// Every frame of `wire`, which must end on a frame boundary.
std::vector<Frame> decode_all(const std::string& wire) {
  std::vector<Frame> frames;
  size_t p = 0;
  while (p < wire.size()) {
    auto at = [&](size_t i) { return static_cast<uint8_t>(wire[i]); };
    if (wire.size() - p < 2) {
      ADD_FAILURE() << "truncated header at " << p;
      return frames;
    }
    Frame f{(at(p) & 0x80) != 0, static_cast<uint8_t>(at(p) & 0xF), (at(p + 1) & 0x80) != 0, {}};
    uint64_t n = at(p + 1) & 0x7F;
    p += 2;
    if (n == 126) {
      n = uint64_t{at(p)} << 8 | at(p + 1);
      p += 2;
    } else if (n == 127) {
      uint64_t v = 0;
      for (int i = 0; i < 8; ++i) {
        v = v << 8 | at(p + i);
      }
      n = v;
      p += 8;
    }
    uint8_t key[4] = {};
    if (f.masked) {
      for (int i = 0; i < 4; ++i) {
        key[i] = at(p + i);
      }
      p += 4;
    }
    if (wire.size() - p < n) {
      ADD_FAILURE() << "truncated payload at " << p;
      return frames;
    }
    for (uint64_t i = 0; i < n; ++i) {
      f.payload.push_back(static_cast<char>(f.masked ? at(p + i) ^ key[i % 4] : at(p + i)));
    }
    p += n;
    frames.push_back(std::move(f));
  }
  return frames;
}

// ------------------------------------------------------------ the two peers and the host

struct FakePeer final : RelayPeer {
  explicit FakePeer(bool backend) : RelayPeer(backend) {}
  void append(const uint8_t* data, size_t n) override { out.append(reinterpret_cast<const char*>(data), n); }
  // Frames written toward this peer since the last call.
  std::vector<Frame> take() {
    std::vector<Frame> f = decode_all(out);
    out.clear();
    return f;
  }
  std::string out;
};

struct FakeHost final : RelayHost {
  void flush_peer(RelayPeer& p) override { ++(p.is_backend ? backend_flushes : client_flushes); }
  void stop_reading(RelayPeer& p) override { ++(p.is_backend ? backend_stops : client_stops); }
  void count_close(const RelayPeer& p, bool sent, uint16_t code) override {
    closes.push_back(std::string(p.is_backend ? "backend" : "client") + (sent ? " sent " : " received ") +
                     std::to_string(code));
  }
  void on_closing() override { ++closing; }
  void on_backend_done() override { ++backend_done; }
  void on_relay_over() override { ++over; }
  std::string label(const RelayPeer& p) const override { return p.is_backend ? "b" : "c"; }

  int client_flushes = 0, backend_flushes = 0, client_stops = 0, backend_stops = 0;
  int closing = 0, backend_done = 0, over = 0;
  std::vector<std::string> closes;
};

RuleLimits limits(bool from_client, uint64_t max_message = 1 << 20) {
  return RuleLimits{max_message, 64, from_client, true};
}

struct Pair {
  Pair() {
    client.codec = std::make_unique<FrameCodec>(client, false, pool(false));
    backend.codec = std::make_unique<FrameCodec>(backend, true, pool(true));
    client.rules = MessageRules(limits(true));
    backend.rules = MessageRules(limits(false));
  }
  Relay relay() { return Relay(host, client, backend, state, stats); }
  // `wire` read from `from`, `step` bytes per read (0: all at once).
  void read(FakePeer& from, const Bytes& wire, size_t step = 0) {
    step = step == 0 ? wire.size() : step;
    for (size_t i = 0; i < wire.size(); i += step) {
      relay().pump(from, wire.data() + i, std::min(step, wire.size() - i));
    }
  }

  FakeHost host;
  FakePeer client{false};
  FakePeer backend{true};
  RelayState state;
  SessionStats stats;
};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes all;
  for (const Bytes& p : parts) {
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

// ------------------------------------------------------------ tests

TEST(Relay, FragmentedMessageArrivesFrameByFrameInOrder) {
  for (size_t step : {size_t{0}, size_t{1}, size_t{5}}) {
    Pair p;
    const std::string big(300, 'x');
    p.read(p.client,
           cat({encode(opcode::text, "hel", true, false), encode(opcode::continuation, big, true, false),
                encode(opcode::continuation, "lo", true, true)}),
           step);
    std::string joined;
    std::vector<Frame> got = p.backend.take();
    ASSERT_FALSE(got.empty()) << "step " << step;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(got[i].masked) << "frames toward a backend are masked";
      EXPECT_EQ(got[i].opcode, i == 0 ? opcode::text : opcode::continuation);
      EXPECT_EQ(got[i].fin, i + 1 == got.size());
      joined += got[i].payload;
    }
    EXPECT_EQ(joined, "hel" + big + "lo") << "step " << step;
    EXPECT_EQ(p.stats.up.messages, 1u);
    EXPECT_EQ(p.stats.up.bytes, joined.size());
    EXPECT_TRUE(p.client.out.empty());
    EXPECT_TRUE(p.host.closes.empty());
  }
}

TEST(Relay, BackendMessageGoesToTheClientUnmasked) {
  Pair p;
  p.read(p.backend, encode(opcode::binary, "abc", false));
  std::vector<Frame> got = p.client.take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].masked);
  EXPECT_EQ(got[0].opcode, opcode::binary);
  EXPECT_EQ(got[0].payload, "abc");
  EXPECT_EQ(p.stats.down.messages, 1u);
}

TEST(Relay, PingAndPongPassThroughBothWays) {
  Pair p;
  p.read(p.client, encode(opcode::ping, "are you there", true));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 1u);
  EXPECT_EQ(to_backend[0].opcode, opcode::ping);
  EXPECT_EQ(to_backend[0].payload, "are you there");
  EXPECT_TRUE(p.client.out.empty()) << "wsgate does not answer a ping it relays";

  p.read(p.backend, encode(opcode::pong, "are you there", false));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].opcode, opcode::pong);
  EXPECT_EQ(to_client[0].payload, "are you there");
  EXPECT_EQ(p.stats.up.messages + p.stats.down.messages, 0u) << "control frames are not messages";
}

TEST(Relay, PingBetweenFragmentsKeepsItsPlace) {
  Pair p;
  p.read(p.client, cat({encode(opcode::text, "a", true, false), encode(opcode::ping, "p", true),
                        encode(opcode::continuation, "b", true, true)}));
  std::vector<Frame> got = p.backend.take();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].opcode, opcode::text);
  EXPECT_EQ(got[1].opcode, opcode::ping);
  EXPECT_EQ(got[2].opcode, opcode::continuation);
}

TEST(Relay, PongToWsgatesOwnPingIsNotRelayed) {
  Pair p;
  p.read(p.client, encode(opcode::pong, keepalive_ping_payload(7), true));
  EXPECT_TRUE(p.backend.out.empty());
  p.read(p.client, encode(opcode::pong, "the client's own", true));
  EXPECT_EQ(p.backend.take().size(), 1u);
}

TEST(Relay, CloseHandshakeBegunByTheClient) {
  Pair p;
  p.read(p.client, encode(opcode::close, close_body(1000, "bye"), true));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 1u);
  EXPECT_EQ(to_backend[0].opcode, opcode::close);
  EXPECT_EQ(to_backend[0].payload, close_body(1000, "bye")) << "relayed as sent, code and reason";
  EXPECT_EQ(p.host.closing, 1);
  EXPECT_EQ(p.host.over, 0);
  EXPECT_EQ(p.stats.closed_by, log::Closer::client);

  // Frames after the close are not relayed (RFC 6455 5.5.1).
  p.read(p.backend, encode(opcode::close, close_body(1000, "ok"), false));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), 1000);
  EXPECT_EQ(to_client[0].payload, close_body(1000, "ok"));
  EXPECT_TRUE(p.state.over);
  EXPECT_EQ(p.host.over, 1);
  EXPECT_GE(p.host.backend_done, 1);
  EXPECT_EQ(p.host.closes, (std::vector<std::string>{"client received 1000", "backend sent 1000",
                                                     "backend received 1000", "client sent 1000"}));
}

TEST(Relay, CloseHandshakeBegunByTheBackend) {
  Pair p;
  p.read(p.backend, encode(opcode::close, close_body(1001, "restart"), false));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].payload, close_body(1001, "restart"));
  EXPECT_FALSE(to_client[0].masked);
  EXPECT_FALSE(p.state.over);
  p.read(p.client, cat({encode(opcode::text, "late", true), encode(opcode::close, close_body(1001), true)}));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 2u) << "data the client sent before its close still goes";
  EXPECT_EQ(to_backend[0].payload, "late");
  EXPECT_EQ(to_backend[1].close_code(), 1001);
  EXPECT_TRUE(p.state.over);
  EXPECT_EQ(p.stats.closed_by, log::Closer::backend);
}

TEST(Relay, CloseWithNobodyLeftToAnswerIsEchoed) {
  Pair p;
  Relay r = p.relay();
  r.peer_gone(p.backend, close_code::internal_error);
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::internal_error);
  EXPECT_EQ(p.host.backend_stops, 1);
  p.read(p.client, encode(opcode::close, close_body(1000), true));
  EXPECT_TRUE(p.backend.out.empty()) << "a gone backend gets nothing";
  EXPECT_TRUE(p.state.over);

  Pair q;
  q.read(q.client, encode(opcode::close, close_body(4000, "mine"), true));
  q.backend.take();
  q.relay().peer_gone(q.backend, close_code::internal_error);
  std::vector<Frame> echoed = q.client.take();
  ASSERT_EQ(echoed.size(), 1u);
  EXPECT_EQ(echoed[0].payload, close_body(4000, "mine")) << "the client's own close is the answer";
  EXPECT_TRUE(q.state.over);
}

TEST(Relay, ClientProtocolErrorClosesItWith1002AndTheBackendWith1001) {
  Pair p;
  p.read(p.client, encode(opcode::text, "unmasked", false));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 1u);
  EXPECT_EQ(to_backend[0].close_code(), close_code::going_away);
  EXPECT_TRUE(p.client.take().empty()) << "the client's close waits for the backend's answer";
  EXPECT_TRUE(p.client.gone);
  EXPECT_EQ(p.host.client_stops, 1);
  EXPECT_EQ(p.stats.closed_by, log::Closer::wsgate);
  // The offender is not read again.
  p.read(p.client, encode(opcode::text, "more", true));
  EXPECT_TRUE(p.backend.out.empty());
  p.read(p.backend, encode(opcode::close, close_body(close_code::going_away), false));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::protocol_error);
  EXPECT_EQ(p.host.over, 1);
}

// Issue 15, finding 10: what the backend sent for the client's earlier, valid
// messages before it answered wsgate's close still reaches the client.
TEST(Relay, RepliesSentBeforeTheBackendsCloseReachTheOffendingClient) {
  Pair p;
  p.read(p.client, cat({encode(opcode::text, "question", true), encode(opcode::text, "bad", false)}));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 2u);
  EXPECT_EQ(to_backend[0].payload, "question");
  EXPECT_EQ(to_backend[1].close_code(), close_code::going_away);
  p.read(p.backend, cat({encode(opcode::text, "answer", false), encode(opcode::ping, "p", false),
                         encode(opcode::close, close_body(close_code::going_away), false)}));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 3u);
  EXPECT_EQ(to_client[0].payload, "answer");
  EXPECT_EQ(to_client[1].opcode, opcode::ping);
  EXPECT_EQ(to_client[2].close_code(), close_code::protocol_error);
  EXPECT_EQ(p.host.over, 1);
}

TEST(Relay, OwedCloseGoesAtOnceWhenTheOtherPeerIsGone) {
  Pair p;
  p.read(p.client, encode(opcode::text, "bad", false));
  EXPECT_TRUE(p.client.take().empty());
  p.relay().peer_gone(p.backend, close_code::internal_error);
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::protocol_error);
  EXPECT_EQ(p.host.over, 1);
}

TEST(Relay, OwedClosesArePaidOnCloseTimeout) {
  Pair p;
  p.read(p.client, encode(opcode::text, "bad", false));
  EXPECT_TRUE(p.client.take().empty());
  p.relay().pay_owed_closes();
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::protocol_error);
  p.relay().pay_owed_closes();
  EXPECT_TRUE(p.client.take().empty()) << "once";
}

TEST(Relay, BackendProtocolErrorClosesItWith1002AndTheClientWith1014) {
  Pair p;
  p.read(p.backend, encode(opcode::text, "masked", true));
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::bad_gateway);
  EXPECT_TRUE(p.backend.take().empty()) << "the backend's close waits for the client's answer";
  EXPECT_TRUE(p.backend.gone);
  // What the client sends before its answer still reaches the backend.
  p.read(p.client, cat({encode(opcode::text, "late", true), encode(opcode::close, close_body(1014), true)}));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 2u);
  EXPECT_EQ(to_backend[0].payload, "late");
  EXPECT_EQ(to_backend[1].close_code(), close_code::protocol_error);
  EXPECT_GE(p.host.backend_done, 1) << "a gone backend stops counting toward routing";
}

TEST(Relay, RuleViolationGetsTheRulesCode) {
  Pair p;
  p.client.rules = MessageRules(limits(true, 10));
  p.read(p.client, encode(opcode::binary, std::string(11, 'z'), true));
  std::vector<Frame> to_backend = p.backend.take();
  ASSERT_EQ(to_backend.size(), 1u);
  EXPECT_EQ(to_backend[0].close_code(), close_code::going_away);
  EXPECT_EQ(to_backend[0].payload.substr(2), "client protocol error");
  p.relay().peer_gone(p.backend, close_code::internal_error);
  std::vector<Frame> to_client = p.client.take();
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(to_client[0].close_code(), close_code::too_big);

  Pair q;
  q.read(q.client, encode(opcode::text, "\xff\xfe", true));
  q.relay().pay_owed_closes();
  std::vector<Frame> bad_text = q.client.take();
  ASSERT_EQ(bad_text.size(), 1u);
  EXPECT_EQ(bad_text[0].close_code(), close_code::invalid_payload);
}

// Issue 15, finding 8: a text message whose last frame ends inside a
// character is refused before that frame is relayed. (A frame read in
// pieces has its first pieces relayed already: the backend is then left
// mid-frame and gets a TCP close, never the message's end.)
TEST(Relay, TextEndingMidCharacterIsRefusedBeforeItsEndIsRelayed) {
  for (const Bytes& wire : {encode(opcode::text, "cut \xe2\x82", true),
                            cat({encode(opcode::text, "ok ", true, false),
                                 encode(opcode::continuation, "cut \xf0\x9f\x98", true, true)})}) {
    Pair p;
    p.read(p.client, wire);
    std::vector<Frame> to_backend = p.backend.take();
    ASSERT_FALSE(to_backend.empty());
    EXPECT_EQ(to_backend.back().opcode, opcode::close);
    for (const Frame& f : to_backend) {
      EXPECT_FALSE(f.opcode == opcode::text && f.fin) << "a whole text message went out: " << f.payload;
    }
    p.relay().pay_owed_closes();
    std::vector<Frame> to_client = p.client.take();
    ASSERT_EQ(to_client.size(), 1u);
    EXPECT_EQ(to_client[0].close_code(), close_code::invalid_payload);
  }
}

TEST(Relay, MessageBeingDroppedIsDroppedWholeAndTheNextOneGoes) {
  Pair p;
  p.state.drop_client_message = true;
  p.read(p.client, cat({encode(opcode::text, "first", true, false), encode(opcode::ping, "p", true),
                        encode(opcode::continuation, "rest", true, true), encode(opcode::text, "next", true)}));
  std::vector<Frame> got = p.backend.take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].opcode, opcode::ping) << "control frames are not part of the dropped message";
  EXPECT_EQ(got[1].payload, "next");
  EXPECT_FALSE(p.state.drop_client_message);
  EXPECT_EQ(p.stats.up.messages, 1u);
}

TEST(Relay, SendCloseGoesOnceAndStartsTheCloseHandshake) {
  Pair p;
  Relay r = p.relay();
  r.send_close(p.client, close_code::going_away, "wsgate is shutting down");
  r.send_close(p.client, close_code::normal, "again");
  std::vector<Frame> got = p.client.take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].close_code(), close_code::going_away);
  EXPECT_EQ(got[0].payload.substr(2), "wsgate is shutting down");
  EXPECT_EQ(p.host.closing, 1);
  EXPECT_EQ(p.host.client_flushes, 1);
  EXPECT_EQ(p.stats.closed_by, log::Closer::wsgate);
}

TEST(Relay, NothingIsRelayedOnceOver) {
  Pair p;
  p.state.over = true;
  p.read(p.client, encode(opcode::text, "x", true));
  EXPECT_TRUE(p.backend.out.empty());
}

}  // namespace
}  // namespace wsgate::worker
