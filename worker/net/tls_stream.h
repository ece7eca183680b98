// The TLS engine of one connection, under TcpConn: ciphertext comes from
// the read that libuv just delivered and records go straight into the
// connection's output queue, through a BIO of our own (no memory BIO pair:
// those keep a buffer per connection for its whole life). With
// SSL_MODE_RELEASE_BUFFERS an idle connection holds only the SSL object,
// its session and its keys.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "shm/metrics_layout.h"
#include "worker/net/buffer_pool.h"
#include "worker/net/openssl_ptr.h"

namespace wsgate::worker {

class TlsStream {
 public:
  enum class Result { more, done, closed, failed };

  // A server-side stream in accept state; nullptr when OpenSSL is out of memory.
  static std::unique_ptr<TlsStream> server(SSL_CTX* ctx);
  // A client-side stream in connect state: `server_name` as SNI (unless an
  // IP literal) and, when the context verifies, as the name the
  // certificate must carry; `resume` (may be null) is offered. nullptr when
  // OpenSSL is out of memory.
  static std::unique_ptr<TlsStream> client(SSL_CTX* ctx, const std::string& server_name, SSL_SESSION* resume);
  static TlsStream* of(SSL* ssl);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // What the next calls read (not copied: valid until they return) and
  // where they write records.
  void set_input(const uint8_t* data, size_t n) {
    in_ = data;
    in_left_ = n;
  }
  void set_output(Bytes* out) { out_ = out; }

  // done once established; more until then; failed with failure() set.
  Result handshake();
  // Up to `cap` plaintext bytes into `buf`; 0 with *r = more (input used
  // up), closed (the peer's close_notify) or failed.
  size_t read(uint8_t* buf, size_t cap, Result* r);
  // Encrypts all of it into the output; false when the stream failed.
  bool write(const uint8_t* data, size_t n);
  // Queues close_notify (once, and only when established).
  void close_notify();

  bool established() const { return established_; }
  bool started() const { return started_; }
  shm::TlsOutcome failure() const { return failure_; }
  const std::string& failure_text() const { return failure_text_; }
  void note_unknown_sni() { unknown_sni_ = true; }

  // Established only.
  const char* version() const { return SSL_get_version(ssl_.get()); }
  const char* cipher() const { return SSL_get_cipher_name(ssl_.get()); }
  bool resumed() const { return SSL_session_reused(ssl_.get()) == 1; }
  // For the context's callbacks (a client's session cache).
  SSL* native() const { return ssl_.get(); }
  // A verified client certificate: its subject (RFC 2253) and SHA-256 (hex);
  // false when the client sent none.
  bool peer_certificate(std::string* subject, std::string* sha256) const;

 private:
  explicit TlsStream(SslPtr ssl);
  static std::unique_ptr<TlsStream> make(SSL_CTX* ctx);
  void describe_verify_failure();
  void fail(int ssl_error);
  static BIO_METHOD* bio_method();
  static int bio_read(BIO* b, char* out, int n);
  static int bio_write(BIO* b, const char* data, int n);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);

  SslPtr ssl_;
  const uint8_t* in_ = nullptr;
  size_t in_left_ = 0;
  Bytes* out_ = nullptr;
  bool established_ = false;
  bool started_ = false;  // bytes of a ClientHello arrived
  bool client_ = false;
  bool unknown_sni_ = false;
  bool closed_ = false;
  shm::TlsOutcome failure_ = shm::TlsOutcome::ok;
  std::string failure_text_;
};

}  // namespace wsgate::worker
