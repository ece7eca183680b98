// An in-place reload of `limits` (SIGHUP) through the real binary: new
// sessions get the new limits, while a session that began before the reload
// keeps the ones it started with, however far into its life it reads them
// (the README's "sessions keep the settings they started with").
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kRoute = "routes:\n  - { path: /chat, pool: chat }\n";

// Between the two max_message values below, so only the old limit lets it through.
constexpr std::size_t kMessageSize = 32 * 1024;
const std::string kLargeLimits = "limits:\n  max_message: 64KiB\n";
const std::string kSmallLimits = "limits:\n  max_message: 16KiB\n";

// One worker, so "the worker applied it" is one log line.
constexpr unsigned kWorkers = 1;

// Rewrites the config (same listen address), sends SIGHUP and waits until the
// worker uses the new limits for new sessions.
void reload_in_place(Gateway& gw, const std::string& body) {
  write_file(gw.config_path(),
             "listen: 127.0.0.1:" + std::to_string(gw.port()) + "\nworkers: " + std::to_string(kWorkers) + "\n" + body);
  gw.process().send_signal(SIGHUP);
  gw.process().wait_for_output("applied in place (limits)", 10000ms);
  gw.process().wait_for_output(R"(worker \d+\[\d+\]: reload applied in place \(limits\))", 10000ms, Match::kRegex);
}

std::string describe(const Message& m) {
  if (m.opcode == kClose) {
    const std::size_t n = m.payload.size();
    const auto byte = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(m.payload[i])); };
    const unsigned code = n >= 2 ? (byte(0) << 8) | byte(1) : 1005;
    return "a close " + std::to_string(code) + (n > 2 ? " \"" + m.payload.substr(2) + "\"" : "");
  }
  return "opcode " + std::to_string(m.opcode) + ", " + std::to_string(m.payload.size()) + " bytes";
}

// The message comes back whole, or the failure says what came instead.
void expect_binary_echo(WsClient& ws, std::size_t size) {
  const std::string data(size, 'm');
  ws.send_binary(data, 10000ms);
  const Message m = ws.recv_message(10000ms);
  EXPECT_EQ(m.opcode, kBinary) << "got " << describe(m) << " instead of the echo";
  EXPECT_EQ(m.payload.size(), size) << "got " << describe(m) << " instead of the echo";
}

void expect_too_big(WsClient& ws, std::size_t size) {
  ws.send_binary(std::string(size, 'm'), 10000ms);
  EXPECT_EQ(ws.expect_close(10000ms).code, 1009);
  ws.close(1009);
}

std::string whoami(WsClient& ws) {
  ws.send_text("whoami");
  return ws.recv_message(10000ms).payload;
}

// close_timeout is read when the close handshake begins, which for a
// long-lived session is long after the reload.
TEST(ReloadLimits, ASessionThatClosesAfterAReloadKeepsItsCloseTimeout) {
  EchoBackend a{"a"};
  const std::string pool = pool_yaml("chat", {a.port()}) + kRoute;
  Gateway gw("limits:\n  close_timeout: 6s\n" + pool, kWorkers);
  WsClient old = gw.open("/chat");
  ASSERT_TRUE(old.handshake_ok()) << old.handshake_error();

  reload_in_place(gw, "limits:\n  close_timeout: 300ms\n" + pool);

  // The backend begins the close; the client never answers it, so wsgate
  // drops both connections once the session's close_timeout is over.
  WsClient fresh = gw.open("/chat");
  ASSERT_TRUE(fresh.handshake_ok()) << fresh.handshake_error();
  fresh.send_text("close:1000:bye");
  EXPECT_EQ(fresh.expect_close(10000ms).code, 1000);
  EXPECT_TRUE(fresh.try_wait_eof(3000ms)) << "a new session still waits longer than the new close_timeout (300 ms)";

  old.send_text("close:1000:bye");
  EXPECT_EQ(old.expect_close(10000ms).code, 1000);
  const auto closing = Clock::now();
  EXPECT_FALSE(old.try_wait_eof(3000ms)) << "the session that began before the reload was dropped after the new "
                                            "close_timeout (300 ms) instead of its own (6 s)";
  EXPECT_TRUE(old.try_wait_eof(10000ms)) << "the old close_timeout never ended the session";
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - closing);
  EXPECT_GE(waited.count(), 5000) << "dropped before its own close_timeout (6 s)";
}

// In a reconnect pool a session that loses its backend is moved to another
// one; the new backend connection must get the session's limits, not the
// reloaded ones.
TEST(ReloadLimits, ASessionMovedAfterAReloadKeepsItsMaxMessage) {
  EchoBackend a{"a"}, b{"b"};
  const std::string pool = pool_yaml("chat", {a.port(), b.port()}, "    on_backend_loss: reconnect\n") + kRoute;
  Gateway gw(kLargeLimits + pool, kWorkers);
  WsClient old = gw.open("/chat");
  ASSERT_TRUE(old.handshake_ok()) << old.handshake_error();
  const std::string first = whoami(old);
  expect_binary_echo(old, kMessageSize);

  reload_in_place(gw, kSmallLimits + pool);
  WsClient fresh = gw.open("/chat");
  ASSERT_TRUE(fresh.handshake_ok()) << fresh.handshake_error();
  expect_too_big(fresh, kMessageSize);

  old.send_text("drop");  // its backend closes TCP without a close frame
  // Speaking before the move would reach the dying backend (see failover_test).
  gw.process().wait_for_output("moved to backend", 10000ms);
  EXPECT_NE(whoami(old), first);
  expect_binary_echo(old, kMessageSize);
  old.disconnect();  // else the stop waits close_timeout for its close reply
}

// A session accepted before the reload whose backend answers the upgrade
// after it: relaying starts under the reload, with the limits the session
// started with.
TEST(ReloadLimits, ASessionWhoseBackendAnswersAfterAReloadKeepsItsMaxMessage) {
  EchoBackend a{"a"};
  // The backend answers 4 s late; connect_timeout covers the wait for the 101.
  const std::string pool = pool_yaml("chat", {a.port()}, "    connect_timeout: 20s\n") + kRoute;
  Gateway gw(kLargeLimits + pool, kWorkers);
  WsClient old = WsClient::connect(gw.port());
  const auto sent = Clock::now();
  old.send_raw(WsClient::upgrade_request("/chat?mode=slow-4000", "127.0.0.1:" + std::to_string(gw.port()),
                                         "dGhlIHNhbXBsZSBub25jZQ==", {}, {}));
  // Counted once it dials: the session exists, with the config of before the reload.
  const Status dialing = gw.wait_status([](const Status& s) { return s.total_sessions() == 1; }, 3000ms);
  ASSERT_EQ(dialing.total_sessions(), 1);

  reload_in_place(gw, kSmallLimits + pool);
  ASSERT_LT(Clock::now() - sent, 3500ms) << "the reload took too long to land before the backend's answer";
  WsClient fresh = gw.open("/chat");
  ASSERT_TRUE(fresh.handshake_ok()) << fresh.handshake_error();
  expect_too_big(fresh, kMessageSize);

  const HttpResponse r = old.read_http_response(10000ms);
  ASSERT_EQ(r.status, 101) << r.head.raw;
  EXPECT_GE(Clock::now() - sent, 4000ms) << "the backend answered before the reload";
  expect_binary_echo(old, kMessageSize);
  old.disconnect();  // else the stop waits close_timeout for its close reply
}

}  // namespace
}  // namespace wsgate::test
