// One WebSocket client connection of the bench client, driven by libuv:
// connect (optionally from a chosen 127.0.0.x source), upgrade, check the 101
// and its Sec-WebSocket-Accept, then send masked binary messages and check
// every echoed byte against the payload pattern, in order.
//
// The connection keeps a FIFO of the messages it has sent and not yet seen
// echoed (with their send time), so a mode only decides *when* to send; the
// connection tells it when each echo came back whole and correct. Output is
// gathered in one buffer and written with one uv_write per flush, which the
// connection does after handling each read: the frames answered by one read
// go out in one syscall.
//
// A subscriber connection (set_subscriber() before start()) sends nothing
// after the upgrade: every data message the server sends is handed whole to
// the handler's on_message() (one chunk straight from the read buffer when it
// arrived in one read, else gathered).
//
// A wss:// endpoint puts TLS under all of it (tests/support's TlsPipe): the
// handshake runs after the TCP connect, ciphertext is decrypted into the
// shared plaintext buffer and handed to the same code as a plain read, and
// each flush encrypts what is queued. The plain path only tests one pointer.
//
// Lifetime: the owner allocates it on the heap; after close() (or a failure)
// the handler's on_closed() is the last call, from the uv close callback, and
// the handler may delete the connection there.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tests/bench/wire.h"
#include "tests/support/tls_context.h"
#include "tests/support/tls_pipe.h"

namespace wsgate::bench {

struct Endpoint {
  sockaddr_in addr{};
  std::string host_header;  // "127.0.0.1:8080"
  std::string path = "/";   // request target
  bool tls = false;         // wss://
  std::string host;         // the URL's host: SNI and the name checked (wss)
};

enum class Failure { kConnect, kHandshake, kVerify, kProtocol, kClosed };
const char* failure_name(Failure f);

class Connection;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(Connection& c) = 0;
  // Message `seq` came back whole and verified; `sent_ns` is when it was queued.
  virtual void on_echo(Connection& c, std::uint64_t sent_ns, std::size_t size) = 0;
  // The connection failed and is being closed (on_closed follows).
  virtual void on_failure(Connection& c, Failure kind, const std::string& why) = 0;
  // The close handshake completed (our close answered), before on_closed.
  virtual void on_close_done(Connection& c) = 0;
  virtual void on_closed(Connection& c) = 0;
  // Subscriber connections only: one whole data message (opcode 1 or 2).
  virtual void on_message(Connection&, std::uint8_t /*opcode*/, std::span<const std::uint8_t> /*payload*/) {}
  // The server ended the session first: a close frame with `code` (1005 if it
  // carried none), or -1 for EOF or a reset without one. on_failure follows.
  virtual void on_server_close(Connection&, int /*code*/) {}
};

struct Shared {  // per-process state every connection uses
  uv_loop_t* loop = nullptr;
  const Pattern* pattern = nullptr;
  FastRandom random;
  // One read is handled completely before the next starts, so every
  // connection reads into this one buffer and idle ones hold none.
  std::vector<std::uint8_t> read_buf = std::vector<std::uint8_t>(256 * 1024);
  std::uint64_t now_ns = 0;   // uv_hrtime() at the start of the current read
  std::string extra_headers;  // "Name: value\r\n"... added to every upgrade request
  // wss: the client context (null: no wss target), whether to offer the
  // newest session the server gave (--resume), the buffer plaintext is
  // decrypted into, and how the handshakes went.
  test::TlsClientContext* tls = nullptr;
  bool resume = false;
  std::vector<std::uint8_t> plain_buf;
  std::uint64_t tls_full = 0, tls_resumed = 0;
  std::uint64_t tls_offered = 0;  // handshakes that offered a session (--resume, one was there)
};

class Connection : private FrameReader::Sink, private test::TlsPipe::Sink {
 public:
  Connection(Shared& shared, ConnectionHandler& handler, std::uint64_t id);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts connecting. Returns "" on success; later failures are reported
  // through the handler. On an error returned here (no socket could be made)
  // the connection made no callback and will make none: delete it.
  std::string start(const Endpoint& to, const std::optional<sockaddr_in>& from);
  // Queues message number next_seq() of `size` bytes (written at the next flush).
  void send_message(std::size_t size, std::uint64_t now_ns);
  // Writes what is queued, unless a write is already in flight (then its
  // completion writes the rest).
  void flush();
  // Starts the close handshake (close 1000); the connection closes TCP when the
  // reply arrives. Idempotent; a connection not yet open is just dropped.
  void close();
  // Drops TCP now, without a close handshake.
  void abort();
  // Makes this a subscriber (see above); call before start().
  void set_subscriber() { subscriber_ = true; }

  std::uint64_t id() const { return id_; }
  bool open() const { return state_ == State::kOpen; }
  bool closing() const { return state_ >= State::kClosing; }
  std::size_t in_flight() const { return pending_.size(); }
  std::uint64_t started_ns() const { return started_ns_; }
  void* user = nullptr;  // for the mode

 private:
  enum class State { kIdle, kConnecting, kTls, kHandshake, kOpen, kCloseSent, kClosing, kClosed };
  struct Pending {
    std::uint64_t seq;
    std::uint64_t sent_ns;
    std::size_t size;
  };

  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);

  void send_upgrade();
  // Handles bytes of the WebSocket stream (as read, or decrypted); false when
  // the connection failed or is closing.
  bool process(std::span<const std::uint8_t> in);
  bool handle_handshake(std::span<const std::uint8_t>& in);
  void start_tls();
  void read_tls(std::span<const std::uint8_t> in);
  void flush_tls();
  bool on_established() override;
  bool on_plain(std::span<std::uint8_t> plain) override;
  bool on_data(std::uint8_t opcode, std::span<const std::uint8_t> chunk, bool message_start, bool message_end) override;
  bool on_control(std::uint8_t opcode, std::span<const std::uint8_t> payload) override;
  bool on_subscriber_data(std::uint8_t opcode, std::span<const std::uint8_t> chunk, bool message_start,
                          bool message_end);
  void fail(Failure kind, const std::string& why);
  void close_tcp();

  Shared& shared_;
  ConnectionHandler& handler_;
  std::uint64_t id_;
  State state_ = State::kIdle;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
  bool writing_ = false;
  bool tcp_inited_ = false;
  std::vector<std::uint8_t> out_;       // queued, not yet handed to libuv
  std::vector<std::uint8_t> in_write_;  // handed to libuv, written when write_req_ completes
  std::string head_;                    // the server's handshake response so far
  std::string expected_accept_;
  std::string host_header_, path_;
  FrameReader reader_;
  std::deque<Pending> pending_;
  std::size_t msg_offset_ = 0;  // bytes of pending_.front() received so far
  bool receiving_ = false;      // inside an echoed message
  std::uint64_t next_seq_ = 0;
  std::uint64_t started_ns_ = 0;
  bool subscriber_ = false;
  std::string gathered_;  // subscriber: a message that came in several chunks
  const Endpoint* endpoint_ = nullptr;
  std::unique_ptr<test::TlsPipe> tls_;  // wss only
  std::string cipher_write_;            // wss: handed to libuv, written when write_req_ completes
};

}  // namespace wsgate::bench
