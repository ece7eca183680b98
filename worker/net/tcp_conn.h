// One TCP connection on the worker's loop: reads into the worker's shared
// read buffer and hands the bytes to its owner at once; queues output in a
// pooled buffer with at most one uv_write in flight (what arrives meanwhile is
// sent together in the next write, so bursts cost one system call).
//
// With start_tls() the connection speaks TLS under the same interface: the
// owner reads and appends plaintext, and the records go through the same
// output queue (see tls_stream.h). Everything above the transport (the
// handshake, the relay, subscribers, keep-alive, closes) is one code path
// for ws and wss.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "worker/net/buffer_pool.h"
#include "worker/net/tls_stream.h"
#include "worker/net/uv_handle.h"

namespace wsgate::worker {

class TcpConnOwner {
 public:
  virtual void on_conn_read(class TcpConn& c, const uint8_t* data, size_t n) = 0;
  virtual void on_conn_eof(TcpConn& c) = 0;
  virtual void on_conn_error(TcpConn& c, int uv_status, const char* while_doing) = 0;
  // The output queue became empty after a write completed.
  virtual void on_conn_flushed(TcpConn& c) = 0;

 protected:
  ~TcpConnOwner() = default;
};

struct ReadBuffer {
  uint8_t* data;
  size_t size;
};

class TcpConn final {
 public:
  TcpConn(uv_loop_t* loop, BufferPool& pool, ReadBuffer shared_read, TcpConnOwner& owner);
  ~TcpConn();
  TcpConn(const TcpConn&) = delete;
  TcpConn& operator=(const TcpConn&) = delete;

  // uv_tcp_init; then uv_accept() or uv_tcp_connect() on tcp().
  int init();
  uv_tcp_t* tcp() { return handle_.get(); }
  uv_stream_t* stream() { return handle_.stream(); }
  bool open() const { return handle_.is_initialized(); }

  int start_reading();
  void stop_reading();
  bool reading() const { return reading_; }

  // Server-side TLS on an accepted connection, before start_reading(); the
  // context stays referenced by the connection. False when OpenSSL is out
  // of memory. Handshake failures reach on_conn_error with UV_EPROTO and
  // "in the TLS handshake"; tls()->failure() says why.
  // `owner` keeps what the context's callbacks point to (its TlsListener).
  bool start_tls(SSL_CTX* ctx, std::shared_ptr<const void> owner);
  // Client-side TLS on a connection whose TCP connect just completed:
  // sends the ClientHello at once. What the owner appends meanwhile (the
  // upgrade request) waits for the handshake and goes out right after it.
  // `owner` keeps the context alive (its session cache). False when the
  // stream is null or the socket write failed.
  bool start_tls_client(std::unique_ptr<TlsStream> stream, std::shared_ptr<const void> owner);
  const TlsStream* tls() const { return tls_.get(); }

  // Appends to the output queue; call flush() once a batch is queued. Out of
  // line on purpose: inlined into its callers, GCC stops inlining the vector
  // insert inside it, which callgrind counted as +114 instructions a message.
  void append(const uint8_t* data, size_t n);
  void append(std::string_view s) { append(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  void flush();
  size_t pending() const { return out_.size() + in_flight_ + plain_.size(); }

  // Half-close after the queue is written (FIN to the peer; with TLS,
  // close_notify first).
  void shutdown_after_flush();
  // Closes the handle now; queued output is dropped.
  void close();

  // Hands the connection to another owner (a session that became a stream
  // subscriber); only between callbacks, with nothing queued for output.
  void set_owner(TcpConnOwner& owner) { owner_ = &owner; }

  // The peer's "ip" or "ip:port" for logs.
  std::string peer_name(bool with_port) const;

 private:
  struct WriteReq;
  struct ShutdownReq;
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  void start_write();
  int try_send(const uint8_t* data, size_t n);
  void do_shutdown();
  void on_tls_read(const uint8_t* data, size_t n);
  bool encrypt_plain();
  void tls_failed(const char* while_doing);
  void send_records_now();

  uv_loop_t* loop_;
  UvHandle<uv_tcp_t> handle_;
  BufferPool& pool_;
  ReadBuffer read_buf_;
  TcpConnOwner* owner_;
  Bytes out_;  // bytes for the wire: with TLS, records
  size_t in_flight_ = 0;
  std::unique_ptr<TlsStream> tls_;
  std::shared_ptr<const void> tls_owner_;
  Bytes plain_;  // TLS: plaintext appended since the last flush()
  WriteReq* write_req_ = nullptr;  // owned by libuv while in flight; we only clear its back pointer
  ShutdownReq* shutdown_req_ = nullptr;
  bool reading_ = false;
  bool shutdown_wanted_ = false;
};

}  // namespace wsgate::worker
