// One health check's conversation, byte for byte: the request, the judgement
// of the 101, ping/pong, the close, and every way a backend can fail it.
// Server frames are built and client frames read by this file's own small
// codec, not by wslay, so a mistake in how the exchange drives wslay shows.
#include "worker/prober/prober_exchange.h"
#include "worker/net/random_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "worker/ws/ws_key.h"

namespace wsgate::worker {
namespace {

using Phase = ProbeExchange::Phase;

struct StringSink final : ByteSink {
  std::string bytes;
  void append(const uint8_t* data, size_t n) override { bytes.append(reinterpret_cast<const char*>(data), n); }
};

// An unmasked server frame with a short payload (< 126 bytes).
std::string server_frame(uint8_t opcode, const std::string& payload, bool masked = false) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  f += static_cast<char>((masked ? 0x80 : 0) | payload.size());
  if (masked) {
    f += std::string(4, '\0');  // a zero key leaves the payload as is
  }
  return f + payload;
}

std::string close_frame(uint16_t code) {
  return server_frame(0x8, std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)});
}

struct ClientFrame {
  uint8_t opcode = 0;
  bool fin = false;
  bool masked = false;
  std::string payload;  // unmasked
};

// Reads one masked client frame (short payloads only) off the front of `wire`.
std::optional<ClientFrame> take_frame(std::string& wire) {
  if (wire.size() < 2) {
    return std::nullopt;
  }
  ClientFrame f;
  auto b0 = static_cast<uint8_t>(wire[0]), b1 = static_cast<uint8_t>(wire[1]);
  f.fin = (b0 & 0x80) != 0;
  f.opcode = b0 & 0x0f;
  f.masked = (b1 & 0x80) != 0;
  size_t len = b1 & 0x7f;
  size_t header = 2 + (f.masked ? 4 : 0);
  if (len >= 126 || wire.size() < header + len) {
    return std::nullopt;
  }
  for (size_t i = 0; i < len; ++i) {
    char key = f.masked ? wire[2 + i % 4] : 0;
    f.payload += static_cast<char>(wire[header + i] ^ key);
  }
  wire.erase(0, header + len);
  return f;
}

struct Exchange : ::testing::Test {
  StringSink out;
  FrameContextPool frames{fill_random};
  ProbeExchange ex{"127.0.0.1:9001", "/health?mode=x", out, frames};

  Phase feed(const std::string& bytes) {
    return ex.on_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  std::string switching(const std::string& extra = "") const {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           ws_accept_for(ex.key()) + "\r\n" + extra + "\r\n";
  }

  // Starts, answers the upgrade, and takes the request off the output.
  void upgrade() {
    ex.start();
    out.bytes.clear();
    ASSERT_EQ(feed(switching()), Phase::ponging);
  }

  ClientFrame sent_frame() {
    auto f = take_frame(out.bytes);
    EXPECT_TRUE(f.has_value()) << "no whole frame in the output";
    return f.value_or(ClientFrame{});
  }
};

TEST_F(Exchange, RequestIsAFreshWebSocketUpgradeForTheHealthPath) {
  ex.start();
  const std::string& r = out.bytes;
  EXPECT_EQ(r.rfind("GET /health?mode=x HTTP/1.1\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nHost: 127.0.0.1:9001\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nConnection: Upgrade\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nSec-WebSocket-Key: " + ex.key() + "\r\n"), std::string::npos) << r;
  EXPECT_TRUE(is_valid_ws_key(ex.key()));
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
  EXPECT_EQ(r.find("Sec-WebSocket-Extensions"), std::string::npos);

  StringSink other_out;
  ProbeExchange other{"127.0.0.1:9001", "/", other_out, frames};
  other.start();
  EXPECT_NE(other.key(), ex.key()) << "every check needs a fresh key";
}

TEST_F(Exchange, ACleanCheckPingsThenClosesWith1000) {
  upgrade();
  ClientFrame ping = sent_frame();
  EXPECT_EQ(ping.opcode, 0x9);
  EXPECT_TRUE(ping.fin);
  EXPECT_TRUE(ping.masked) << "frames to a server must be masked";
  EXPECT_EQ(ping.payload, ex.ping_payload());
  EXPECT_FALSE(ping.payload.empty());

  EXPECT_EQ(feed(server_frame(0xA, ex.ping_payload())), Phase::closing);
  ClientFrame close = sent_frame();
  EXPECT_EQ(close.opcode, 0x8);
  EXPECT_TRUE(close.masked);
  EXPECT_EQ(close.payload, std::string("\x03\xe8", 2));

  EXPECT_EQ(feed(close_frame(1000)), Phase::done);
  EXPECT_TRUE(ex.finished());
  EXPECT_TRUE(ex.error().empty());
  EXPECT_TRUE(out.bytes.empty()) << "nothing after the close";
}

TEST_F(Exchange, EofAfterOurCloseIsAsGoodAsAReply) {
  upgrade();
  feed(server_frame(0xA, ex.ping_payload()));
  EXPECT_EQ(ex.on_eof(), Phase::done);
}

TEST_F(Exchange, FramesRightBehindThe101AreRead) {
  ex.start();
  // The pong cannot come before the ping, but a greeting can.
  EXPECT_EQ(feed(switching() + server_frame(0x1, "welcome")), Phase::ponging);
  EXPECT_EQ(feed(server_frame(0xA, ex.ping_payload()) + close_frame(1000)), Phase::done);
}

TEST_F(Exchange, OtherFramesBeforeThePongAreIgnored) {
  upgrade();
  EXPECT_EQ(feed(server_frame(0x1, "hello")), Phase::ponging);
  EXPECT_EQ(feed(server_frame(0x9, "app ping")), Phase::ponging);
  EXPECT_EQ(feed(server_frame(0xA, "someone else's pong")), Phase::ponging);
  // A fragmented message with our pong between its fragments.
  std::string first = server_frame(0x1, "part1");
  first[0] = 0x01;  // FIN clear
  EXPECT_EQ(feed(first + server_frame(0xA, ex.ping_payload())), Phase::closing);
  EXPECT_EQ(feed(server_frame(0x0, "part2") + close_frame(1000)), Phase::done);
}

TEST_F(Exchange, ByteByByte) {
  ex.start();
  std::string all = switching() + server_frame(0x1, "x");
  for (char c : all) {
    feed(std::string(1, c));
  }
  EXPECT_EQ(ex.phase(), Phase::ponging);
  std::string rest = server_frame(0xA, ex.ping_payload()) + close_frame(1000);
  for (char c : rest) {
    feed(std::string(1, c));
  }
  EXPECT_EQ(ex.phase(), Phase::done);
}

// ------------------------------------------------------------ failures

TEST_F(Exchange, ARefusalFailsWithItsStatus) {
  ex.start();
  EXPECT_EQ(feed("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"), Phase::failed);
  EXPECT_EQ(ex.error(), "answered 503");
}

TEST_F(Exchange, ARefusalEndedByEofFailsWithItsStatus) {
  ex.start();
  EXPECT_EQ(feed("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"), Phase::upgrading);
  EXPECT_EQ(ex.on_eof(), Phase::failed);
  EXPECT_EQ(ex.error(), "answered 503");
}

TEST_F(Exchange, ABad101FailsWithTheReason) {
  ex.start();
  std::string bad =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
  EXPECT_EQ(feed(bad), Phase::failed);
  EXPECT_NE(ex.error().find("Sec-WebSocket-Accept"), std::string::npos) << ex.error();

  StringSink o2;
  ProbeExchange no_upgrade{"h:1", "/", o2, frames};
  no_upgrade.start();
  std::string missing = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                        ws_accept_for(no_upgrade.key()) + "\r\n\r\n";
  no_upgrade.on_bytes(reinterpret_cast<const uint8_t*>(missing.data()), missing.size());
  EXPECT_EQ(no_upgrade.phase(), Phase::failed);
  EXPECT_NE(no_upgrade.error().find("Upgrade: websocket"), std::string::npos) << no_upgrade.error();
}

TEST_F(Exchange, GarbageInsteadOfHttpFails) {
  ex.start();
  EXPECT_EQ(feed("SSH-2.0-OpenSSH_9.2\r\n\r\n"), Phase::failed);
  EXPECT_NE(ex.error().find("invalid answer to the upgrade"), std::string::npos) << ex.error();
}

TEST_F(Exchange, EofBeforeAnyAnswer) {
  ex.start();
  EXPECT_EQ(ex.on_eof(), Phase::failed);
  EXPECT_EQ(ex.error(), "closed the connection before answering the upgrade");
}

TEST_F(Exchange, EofBeforeThePong) {
  upgrade();
  EXPECT_EQ(ex.on_eof(), Phase::failed);
  EXPECT_EQ(ex.error(), "closed the connection before the pong");
}

TEST_F(Exchange, ACloseBeforeThePong) {
  upgrade();
  EXPECT_EQ(feed(close_frame(1001)), Phase::failed);
  EXPECT_EQ(ex.error(), "sent close 1001 before the pong");
}

TEST_F(Exchange, AMaskedServerFrame) {
  upgrade();
  EXPECT_EQ(feed(server_frame(0xA, ex.ping_payload(), true)), Phase::failed);
  EXPECT_EQ(ex.error(), "sent a masked frame");
}

TEST_F(Exchange, AnInvalidFrame) {
  upgrade();
  // A ping announcing 126 bytes: control frames carry at most 125.
  std::string f = "\x89\x7e";
  f += std::string("\x00\x7e", 2) + std::string(126, 'p');
  EXPECT_EQ(feed(f), Phase::failed);
  EXPECT_EQ(ex.error(), "sent an invalid frame");
}

TEST_F(Exchange, TimeoutsNameWhatWasAwaited) {
  ex.start();
  EXPECT_EQ(ex.on_timeout(1000), Phase::failed);
  EXPECT_EQ(ex.error(), "no 101 within 1000 ms");

  StringSink o2;
  ProbeExchange p2{"h:1", "/", o2, frames};
  p2.start();
  std::string ok =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      ws_accept_for(p2.key()) + "\r\n\r\n";
  p2.on_bytes(reinterpret_cast<const uint8_t*>(ok.data()), ok.size());
  EXPECT_EQ(p2.on_timeout(200), Phase::failed);
  EXPECT_EQ(p2.error(), "no pong within 200 ms");

  StringSink o3;
  ProbeExchange p3{"h:1", "/", o3, frames};
  p3.start();
  ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: " +
       ws_accept_for(p3.key()) + "\r\n\r\n";
  p3.on_bytes(reinterpret_cast<const uint8_t*>(ok.data()), ok.size());
  std::string pong = server_frame(0xA, p3.ping_payload());
  p3.on_bytes(reinterpret_cast<const uint8_t*>(pong.data()), pong.size());
  EXPECT_EQ(p3.on_timeout(50), Phase::failed);
  EXPECT_EQ(p3.error(), "no close reply within 50 ms");
}

TEST_F(Exchange, TheFirstFailureIsKept) {
  ex.start();
  ex.on_error("reading failed (104: Connection reset by peer)");
  ex.on_timeout(1000);
  ex.on_eof();
  EXPECT_EQ(ex.error(), "reading failed (104: Connection reset by peer)");
  EXPECT_EQ(feed(switching()), Phase::failed);
}

TEST(ExchangeMemory, ManyChecksKeepAtMostTwoIdleFrameContexts) {
  FrameContextPool frames{fill_random};
  for (int i = 0; i < 200; ++i) {
    StringSink out;
    ProbeExchange ex{"127.0.0.1:9001", "/", out, frames};
    ex.start();
    std::string answer =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        ws_accept_for(ex.key()) + "\r\n\r\n" + server_frame(0x1, "greeting");
    ex.on_bytes(reinterpret_cast<const uint8_t*>(answer.data()), answer.size());
    std::string end = server_frame(0xA, ex.ping_payload()) + close_frame(1000);
    ex.on_bytes(reinterpret_cast<const uint8_t*>(end.data()), end.size());
    ASSERT_EQ(ex.phase(), Phase::done) << i;
  }
  EXPECT_LE(frames.idle(), 2u) << "one for input, one for output, reused by every check";
}

}  // namespace
}  // namespace wsgate::worker
