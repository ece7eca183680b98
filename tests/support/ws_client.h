// A blocking WebSocket test client over plain sockets and poll(2).
//
// Every call takes a timeout. On expiry, a protocol surprise or an I/O error
// it throws TestIoError with a message saying what it waited for and what it
// got, so a test fails clearly instead of hanging (gtest reports exceptions
// thrown from a test body as failures). try_* variants return nullopt on
// timeout for the cases where silence is the expected answer.
//
// It is independent of wslay and of wsgate's code, and it will send anything:
// unmasked frames, reserved opcodes, RSV bits, bad lengths, raw bytes.
//
// While it sends, it keeps reading into its own buffer, so echoing a message
// larger than the socket buffers cannot deadlock (turn that off with
// set_read_while_sending(false) to play a client that never reads).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_head.h"
#include "tests/support/ws_frame.h"

namespace wsgate::test {

using std::chrono::milliseconds;
inline constexpr milliseconds kDefaultTimeout{5000};

struct TestIoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HttpResponse {
  int status = 0;      // 0 if the status line did not parse
  std::string reason;  // "Switching Protocols"
  HttpHead head;       // raw text and headers; head.get("name") is case-insensitive
  std::string body;    // bytes after the head that were already read (not for 101s)
  std::optional<std::string> header(std::string_view name) const { return head.get(name); }
};

// nullopt value = leave this default header out of the request.
struct Header {
  std::string name;
  std::optional<std::string> value;
};

// A received frame; payload already unmasked if it was masked.
struct Frame {
  bool fin = true;
  std::uint8_t rsv = 0;
  std::uint8_t opcode = kText;
  bool masked = false;
  std::string payload;
};

// A data message (fragments joined) or a single control frame.
struct Message {
  std::uint8_t opcode = kText;  // first frame's opcode; control opcodes for control frames
  std::string payload;
  std::size_t frames = 1;  // how many data frames it arrived in
  bool is_control() const { return wsgate::test::is_control(opcode); }
};

struct CloseInfo {
  std::uint16_t code = 1005;  // 1005 when the close frame had no body
  std::string reason;
  std::size_t skipped = 0;  // non-close frames read and dropped before it
};

// Everything a hostile sender may want to control in one frame. Build with
// the chainable helpers, e.g.
//   RawFrame::of(kPing, std::string(126, 'p')).not_final()
//   RawFrame::of(kBinary).with_length(1ull << 63, LengthForm::k64Bit)
struct RawFrame {
  static RawFrame of(std::uint8_t opcode, std::string payload = {}) {
    RawFrame f;
    f.opcode = opcode;
    f.payload = std::move(payload);
    return f;
  }
  RawFrame& unmasked() {
    mask = false;
    return *this;
  }
  RawFrame& not_final() {
    fin = false;
    return *this;
  }
  RawFrame& with_rsv(std::uint8_t bits) {
    rsv = bits;
    return *this;
  }
  RawFrame& with_key(const MaskKey& k) {
    key = k;
    return *this;
  }
  // Writes `value` in the length field whatever the payload's real size.
  RawFrame& with_length(std::uint64_t value, LengthForm f = LengthForm::kShortest) {
    length_field = value;
    form = f;
    return *this;
  }

  bool fin = true;
  std::uint8_t rsv = 0;
  std::uint8_t opcode = kText;
  bool mask = true;
  std::optional<MaskKey> key;  // default: random
  std::string payload;
  std::optional<std::uint64_t> length_field;  // written instead of payload.size()
  LengthForm form = LengthForm::kShortest;
};
std::string build_frame(const RawFrame& f);

enum class PeerClosed { kFin, kReset };

class WsClient {
 public:
  WsClient() = default;
  WsClient(WsClient&& other) noexcept;
  WsClient& operator=(WsClient&& other) noexcept;
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;
  ~WsClient();

  // TCP connect to host:port (host "127.0.0.1" or "::1").
  static WsClient connect(std::uint16_t port, milliseconds timeout = kDefaultTimeout,
                          const std::string& host = "127.0.0.1");
  // connect() + upgrade request + response. Never throws for a refused or
  // broken upgrade: check handshake_ok(), handshake_error() and response().
  static WsClient open(std::uint16_t port, const std::string& path = "/", const std::vector<Header>& extra_headers = {},
                       const std::vector<std::string>& protocols = {}, milliseconds timeout = kDefaultTimeout,
                       const std::string& host = "127.0.0.1");

  // The same from a chosen local address (e.g. "127.0.0.2": any of
  // 127.0.0.0/8 is this host), so tests can play several client IPs.
  static WsClient connect_from(const std::string& source, std::uint16_t port, milliseconds timeout = kDefaultTimeout,
                               const std::string& host = "127.0.0.1");
  static WsClient open_from(const std::string& source, std::uint16_t port, const std::string& path = "/",
                            milliseconds timeout = kDefaultTimeout, const std::string& host = "127.0.0.1");

  // The upgrade on an already connected socket (what open() does after connect).
  void handshake(const std::string& path, const std::vector<Header>& extra_headers,
                 const std::vector<std::string>& protocols, milliseconds timeout);
  // The request open() sends: defaults first, then extras (same name replaces,
  // nullopt removes). `key` becomes Sec-WebSocket-Key unless overridden.
  static std::string upgrade_request(const std::string& path, const std::string& host_header, const std::string& key,
                                     const std::vector<Header>& extra_headers,
                                     const std::vector<std::string>& protocols);

  bool handshake_ok() const { return handshake_error_.empty() && response_.status == 101; }
  const std::string& handshake_error() const { return handshake_error_; }
  const HttpResponse& response() const { return response_; }
  int status() const { return response_.status; }

  // Raw bytes and HTTP.
  void send_raw(std::string_view bytes, milliseconds timeout = kDefaultTimeout);
  HttpResponse read_http_response(milliseconds timeout = kDefaultTimeout);
  std::optional<HttpResponse> try_read_http_response(milliseconds timeout);

  // Frames out (client frames masked with a random key unless mask=false).
  void send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool mask = true,
                  std::uint8_t rsv = 0, milliseconds timeout = kDefaultTimeout);
  void send_raw_frame(const RawFrame& f, milliseconds timeout = kDefaultTimeout);
  void send_text(std::string_view text, milliseconds timeout = kDefaultTimeout);
  void send_binary(std::string_view data, milliseconds timeout = kDefaultTimeout);
  // First part with `opcode`, the rest as continuations, FIN on the last.
  void send_fragments(std::uint8_t opcode, const std::vector<std::string>& parts,
                      milliseconds timeout = kDefaultTimeout);
  void ping(std::string_view payload = {}, milliseconds timeout = kDefaultTimeout);
  void pong(std::string_view payload = {}, milliseconds timeout = kDefaultTimeout);
  void close(std::uint16_t code = 1000, std::string_view reason = {}, milliseconds timeout = kDefaultTimeout);
  void close_without_body(milliseconds timeout = kDefaultTimeout);

  // Frames in.
  Frame recv_frame(milliseconds timeout = kDefaultTimeout);
  std::optional<Frame> try_recv_frame(milliseconds timeout);
  Message recv_message(milliseconds timeout = kDefaultTimeout);
  // Reads until a close frame (dropping other frames) and returns its body.
  CloseInfo expect_close(milliseconds timeout = kDefaultTimeout);
  // Reads and drops everything until the peer closes TCP.
  PeerClosed wait_eof(milliseconds timeout = kDefaultTimeout);
  // True if the peer closed TCP within `timeout` (data before it is dropped).
  bool try_wait_eof(milliseconds timeout);

  // Plumbing.
  int fd() const { return fd_; }
  bool peer_closed() const { return eof_; }
  std::size_t buffered() const { return in_.size() - in_pos_; }
  void set_read_while_sending(bool on) { read_while_sending_ = on; }
  void set_max_frame_size(std::uint64_t bytes) { max_frame_ = bytes; }
  // Half-close (FIN) our side, or close the socket entirely.
  void shutdown_write();
  void disconnect();

 private:
  using Clock = std::chrono::steady_clock;
  enum class ReadResult { kData, kEof, kTimeout };
  explicit WsClient(int fd) : fd_(fd) {}
  bool recv_some();
  ReadResult read_more(Clock::time_point deadline);
  std::optional<Frame> read_frame(Clock::time_point deadline);
  void check_handshake(const std::string& key, const std::vector<std::string>& protocols, bool offered_extensions);
  std::string_view pending() const { return std::string_view(in_).substr(in_pos_); }
  void consume(std::size_t n);

  int fd_ = -1;
  std::string in_;  // received bytes; [in_pos_, end) not yet consumed
  std::size_t in_pos_ = 0;
  bool eof_ = false;
  bool reset_ = false;
  bool read_while_sending_ = true;
  std::uint64_t max_frame_ = 256ull * 1024 * 1024;
  HttpResponse response_;
  std::string handshake_error_;
  std::optional<Message> partial_;  // a fragmented message interrupted by a control frame
  std::string host_;
  std::uint16_t port_ = 0;
};

}  // namespace wsgate::test
