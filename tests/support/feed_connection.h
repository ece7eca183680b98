// One TCP connection of the feed source: a control request (/_stats,
// /_drop) or a WebSocket subscriber. Single-threaded, driven by libuv.
//
// Life cycle: kHead -> kOpen -> (kCloseSent ->) kDraining, or kHead ->
// kDraining for plain HTTP answers. end() closes the handles and hands the
// connection to the server, which destroys it at a safe point, so no member
// function runs on a destroyed connection.
//
// Output is whatever the server's ticks queue plus control replies; when the
// unsent part passes kMaxBacklog the subscriber is not keeping up and is
// dropped, so a stalled reader cannot grow the process. Input is parsed
// straight out of the server's shared read buffer; only the message being
// received (at most kMaxMessage) and one control frame are buffered.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tests/support/tls_pipe.h"
#include "tests/support/uv_owner.h"
#include "tests/support/ws_frame.h"

namespace wsgate::test {

class FeedServer;

class FeedConnection : private TlsPipe::Sink {
 public:
  static constexpr std::size_t kMaxBacklog = 8 * 1024 * 1024;
  static constexpr std::size_t kMaxMessage = 1024 * 1024;
  static constexpr std::size_t kMaxHead = 16 * 1024;

  explicit FeedConnection(FeedServer& server);
  ~FeedConnection() override = default;
  FeedConnection(const FeedConnection&) = delete;
  FeedConnection& operator=(const FeedConnection&) = delete;

  // Accepts from `listener` and starts reading; false (unusable) on error.
  bool start(uv_stream_t* listener);
  // Queues encoded frames from the channel and writes them. The caller checks
  // overflowing() afterwards (dropping here would change the member list it
  // is walking).
  void send(std::string_view frames);
  bool overflowing() const { return backlog() > kMaxBacklog; }
  // Drops a subscriber that fell kMaxBacklog behind.
  void drop_slow();
  // Server shutdown: close 1001 to an open WebSocket; end a connection that
  // has nothing left to send.
  void go_away();
  // Closes TCP with an RST, no close frame: a lost upstream.
  void drop();
  // Closes the handles and retires the connection. Idempotent.
  void end();

  bool ended() const { return ended_; }
  // 0 until the upgrade; then the id reported in /_stats.
  std::uint64_t id() const { return id_; }

 private:
  enum class State { kHead, kOpen, kCloseSent, kDraining };

  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* t);

  // Input.
  void handle_read_error(ssize_t nread);
  void read_tls(std::span<std::uint8_t> in);
  bool on_established() override;
  bool on_plain(std::span<std::uint8_t> plain) override;
  void consume(std::span<std::uint8_t> in);
  std::size_t consume_head(std::span<std::uint8_t> in);
  void answer_request();
  void consume_frames(std::span<std::uint8_t> in);
  std::string frame_problem() const;
  void on_frame_header();
  void on_frame_payload(std::span<std::uint8_t> chunk);
  void on_frame_end();
  void on_control_frame(std::uint8_t opcode);
  void fail(std::uint16_t code, const std::string& why);

  // Output and closing.
  void send_frame(std::uint8_t opcode, std::string_view payload);
  void flush();
  std::size_t backlog() const { return unsent_ + out_.size(); }
  void leave_channel();
  void start_draining();
  void arm_timer(std::uint64_t ms);

  void log_info(const std::string& what) const;
  void log_error(const std::string& what) const;

  FeedServer& server_;
  UvHandle<uv_tcp_t> tcp_;
  UvHandle<uv_timer_t> timer_;  // close-reply wait, linger after our FIN
  std::string peer_;            // "127.0.0.1:5555" for log lines
  State state_ = State::kHead;
  bool ended_ = false;
  bool joined_ = false;    // in its channel's member list
  bool fin_sent_ = false;  // our shutdown completed: nothing of ours is left to write
  std::uint64_t id_ = 0;
  std::string channel_;

  std::string request_;  // the request head as received

  FrameParser parser_;
  bool in_message_ = false;  // a fragmented data message is open
  bool collecting_ = false;  // the current data frame belongs to a recorded message
  std::string message_;      // the data message being received
  std::string control_;      // the control frame being received

  std::string out_;         // output not yet handed to libuv
  std::string spare_;       // a finished write's buffer, reused by the next
  std::size_t unsent_ = 0;  // bytes handed to libuv, not yet written
  bool sniffed_ = false;    // the first byte was seen: TLS or not is decided
  std::unique_ptr<TlsPipe> tls_;
};

}  // namespace wsgate::test
