// One TCP connection of the echo backend, from the upgrade request to the
// closed socket. Single-threaded, driven by libuv callbacks.
//
// Life cycle: kHandshake -> (kDelayed ->) kOpen -> kCloseSent -> kDraining,
// with kHanging and HTTP refusals as side exits. end() closes the handles and
// hands the session to the server, which destroys it at a safe point, so no
// member function ever runs on a destroyed session.
//
// On a TLS server every read is decrypted first (TlsPipe) and the plaintext
// goes through the same steps; what flush() writes is encrypted first.
//
// Memory stays bounded whatever the peer does: input is processed straight out
// of the server's shared read buffer; when unsent output passes kHighWater the
// session stops reading (keeping at most one read's worth in `stash_`) until
// the output drains below kLowWater. Large messages stream frame by frame and
// chunk by chunk; only short text frames (possible commands) and control
// frames are buffered whole.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tests/support/backend_commands.h"
#include "tests/support/backend_handshake.h"
#include "tests/support/tls_pipe.h"
#include "tests/support/uv_owner.h"
#include "tests/support/ws_frame.h"

namespace wsgate::test {

class EchoServer;

class Session : private TlsPipe::Sink {
 public:
  static constexpr std::size_t kHighWater = 1024 * 1024;
  static constexpr std::size_t kLowWater = 256 * 1024;

  explicit Session(EchoServer& server);
  ~Session() override = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Accepts from `listener` and starts reading; false (session unusable) on error.
  bool start(uv_stream_t* listener);
  // Server shutdown: close 1001 for WebSocket sessions, drop the rest.
  void go_away();
  // Closes the handles and retires the session. Idempotent.
  void end();
  bool ended() const { return ended_; }

 private:
  enum class State { kHandshake, kDelayed, kHanging, kOpen, kCloseSent, kDraining };

  // libuv callbacks (handle->data is the session, or nullptr once ended).
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* t);

  // Input.
  void handle_read_error(ssize_t nread);
  void read_tls(std::span<std::uint8_t> in);
  bool on_established() override { return true; }
  bool on_plain(std::span<std::uint8_t> plain) override;
  void take_input(std::span<std::uint8_t> in);
  std::size_t consume(std::span<std::uint8_t> in);
  std::size_t step(std::span<std::uint8_t> in);
  std::size_t consume_request(std::span<std::uint8_t> in);
  std::size_t consume_frames(std::span<std::uint8_t> in);
  void resume();
  bool stalled() const;
  void set_reading(bool on);

  // Handshake.
  void answer_handshake();
  void become_open();

  // Frames in.
  std::string frame_problem() const;
  void on_frame_header();
  void on_frame_payload(std::span<std::uint8_t> chunk);
  void on_frame_end();
  void on_control_frame(std::uint8_t opcode, const std::string& payload);
  void on_peer_close(const std::string& payload);
  void run_command(const Command& c);
  void fail(std::uint16_t code, const std::string& why);

  // Output.
  void send_frame(std::uint8_t opcode, std::string_view payload, bool masked = false);
  void send_close(std::optional<std::uint16_t> code, std::string_view reason);
  void request_close(std::optional<std::uint16_t> code, std::string_view reason);
  void output_frame_done();
  void pump_flood();
  void flush();
  void recycle(std::string&& buf);
  void after_write();
  std::size_t backlog() const { return unsent_ + out_.size(); }

  // Closing.
  void start_draining();
  void uncount();
  void arm_timer(std::uint64_t ms);

  void log_info(const std::string& what) const;
  void log_error(const std::string& what) const;

  EchoServer& server_;
  UvHandle<uv_tcp_t> tcp_;
  UvHandle<uv_timer_t> timer_;  // slow-MS delay, close-reply wait, linger
  std::string peer_;            // "127.0.0.1:5555" for log lines
  State state_ = State::kHandshake;
  bool ended_ = false;
  bool reading_ = false;
  bool counted_ = false;  // counted in live WebSocket sessions (open or closing)

  std::string request_;  // the request head as received
  HandshakeDecision decision_;
  std::string stash_;  // input read but not yet processed (bounded, see above)

  FrameParser parser_;
  bool in_message_ = false;  // a fragmented data message is open
  bool buffering_ = false;   // current frame is collected in `frame_` (control/command)
  bool streaming_ = false;   // current frame is echoed chunk by chunk
  std::string frame_;
  std::optional<std::string> pending_ping_;  // ping:PAYLOAD waiting for its pong
  std::uint64_t pongs_ = 0;                  // pong frames received, for "pongs"

  struct Flood {
    std::uint64_t left = 0;  // messages not yet finished
    std::uint64_t size = 0;
    std::uint64_t index = 0;   // current message number
    std::uint64_t offset = 0;  // bytes of the current message emitted
    bool active() const { return left > 0; }
  } flood_;
  struct CloseRequest {
    std::optional<std::uint16_t> code;  // nullopt: empty close body
    std::string reason;
  };
  std::optional<CloseRequest> deferred_close_;  // waits for the open output frame to end

  std::string out_;         // output not yet handed to libuv
  std::string spare_;       // a finished write's buffer, reused by the next
  std::size_t unsent_ = 0;  // bytes handed to libuv, not yet written
  std::unique_ptr<TlsPipe> tls_;  // on a TLS server
};

}  // namespace wsgate::test
