// One TLS connection as a filter between the socket and the plaintext code:
// ciphertext read from the socket goes in (feed), plaintext comes out to a
// sink; plaintext to send goes in (write), ciphertext to send accumulates in
// out(). No socket, no loop: the owner moves the bytes, so the echo backend
// and the bench client keep their own libuv I/O and their plain paths.
//
// OpenSSL reads straight from the span given to feed() and writes straight
// into out() through a BIO of this file, so nothing is copied into OpenSSL
// memory BIOs and an idle connection holds no buffer here (the contexts set
// SSL_MODE_RELEASE_BUFFERS for OpenSSL's own).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace wsgate::test {

class TlsPipe {
 public:
  struct Sink {
    virtual ~Sink() = default;
    // The handshake just completed. False: stop (the owner is failing).
    virtual bool on_established() = 0;
    // Decrypted bytes; valid only during the call. False: stop.
    virtual bool on_plain(std::span<std::uint8_t> plain) = 0;
  };
  enum class Result {
    kOk,       // all input consumed
    kStopped,  // a sink call returned false
    kClosed,   // the peer sent close_notify
    kError,    // see error()
  };

  // A client connection to `host` (SNI and name check unless it is an IP
  // literal, which is checked as an IP), offering `resume` if not null.
  static std::unique_ptr<TlsPipe> client(SSL_CTX* ctx, const std::string& host, SSL_SESSION* resume);
  static std::unique_ptr<TlsPipe> server(SSL_CTX* ctx);
  ~TlsPipe();
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;

  // Client: writes the ClientHello to out(). False on error.
  bool start();
  // Consumes all of `in`: the handshake first, then records; plaintext is
  // decrypted into `scratch` (16 KiB or more) and handed to the sink.
  Result feed(std::span<const std::uint8_t> in, std::span<std::uint8_t> scratch, Sink& sink);
  // Encrypts `plain` into out(); only once established. False on error.
  bool write(std::span<const std::uint8_t> plain);
  // Queues close_notify in out() (once established; idempotent).
  void close_notify();

  std::string& out() { return out_; }  // ciphertext for the socket
  bool established() const { return established_; }
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  const std::string& error() const { return error_; }
  std::string version() const { return SSL_get_version(ssl_); }

 private:
  explicit TlsPipe(SSL* ssl);
  static int bio_write(BIO* b, const char* data, int len);
  static int bio_read(BIO* b, char* data, int len);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);
  static int bio_create(BIO* b);
  static const BIO_METHOD* bio_method();
  Result failed(int rc, const char* what);

  SSL* ssl_;
  std::span<const std::uint8_t> in_;  // during feed(): ciphertext not yet read by OpenSSL
  std::string out_;
  std::string error_;
  bool established_ = false;
  bool shut_ = false;
};

}  // namespace wsgate::test
