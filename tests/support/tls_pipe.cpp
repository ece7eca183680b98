#include "tests/support/tls_pipe.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "tests/support/tls_context.h"

namespace wsgate::test {

namespace {

struct BioMethodFree {
  void operator()(BIO_METHOD* m) const { BIO_meth_free(m); }
};

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

const BIO_METHOD* TlsPipe::bio_method() {
  static const std::unique_ptr<BIO_METHOD, BioMethodFree> method = [] {
    std::unique_ptr<BIO_METHOD, BioMethodFree> m(
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsgate-test-tls-pipe"));
    if (m) {
      BIO_meth_set_write(m.get(), &TlsPipe::bio_write);
      BIO_meth_set_read(m.get(), &TlsPipe::bio_read);
      BIO_meth_set_ctrl(m.get(), &TlsPipe::bio_ctrl);
      BIO_meth_set_create(m.get(), &TlsPipe::bio_create);
    }
    return m;
  }();
  return method.get();
}

int TlsPipe::bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int TlsPipe::bio_write(BIO* b, const char* data, int len) {
  auto* self = static_cast<TlsPipe*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!self || len < 0) return -1;
  self->out_.append(data, static_cast<std::size_t>(len));
  return len;
}

int TlsPipe::bio_read(BIO* b, char* data, int len) {
  auto* self = static_cast<TlsPipe*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!self || len < 0) return -1;
  if (self->in_.empty()) {
    BIO_set_retry_read(b);  // "no more for now", not EOF: the socket's EOF is the owner's
    return -1;
  }
  const std::size_t n = std::min(self->in_.size(), static_cast<std::size_t>(len));
  std::memcpy(data, self->in_.data(), n);
  self->in_ = self->in_.subspan(n);
  return static_cast<int>(n);
}

long TlsPipe::bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // writes are appended at once: nothing to flush
}

TlsPipe::TlsPipe(SSL* ssl) : ssl_(ssl) {
  BIO* bio = ssl_ ? BIO_new(bio_method()) : nullptr;
  if (!bio) return;
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL from here
}

TlsPipe::~TlsPipe() { SSL_free(ssl_); }

std::unique_ptr<TlsPipe> TlsPipe::client(SSL_CTX* ctx, const std::string& host, SSL_SESSION* resume) {
  std::unique_ptr<TlsPipe> p(new TlsPipe(SSL_new(ctx)));
  if (!p->ssl_ || !SSL_get_rbio(p->ssl_)) return nullptr;
  SSL_set_connect_state(p->ssl_);
  // RFC 6066: SNI carries host names only; an IP literal is checked as an IP.
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(p->ssl_, host.c_str());
    SSL_set1_host(p->ssl_, host.c_str());
  }
  if (resume) {
    // A copy per connection: a TLS 1.3 client writes the new resumption secret
    // into the session it resumed, so connections sharing one session object
    // would compute wrong binders and fall back to full handshakes.
    const SslSessionPtr copy(SSL_SESSION_dup(resume));
    if (copy) SSL_set_session(p->ssl_, copy.get());
  }
  return p;
}

std::unique_ptr<TlsPipe> TlsPipe::server(SSL_CTX* ctx) {
  std::unique_ptr<TlsPipe> p(new TlsPipe(SSL_new(ctx)));
  if (!p->ssl_ || !SSL_get_rbio(p->ssl_)) return nullptr;
  SSL_set_accept_state(p->ssl_);
  return p;
}

TlsPipe::Result TlsPipe::failed(int rc, const char* what) {
  const int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_ZERO_RETURN) return Result::kClosed;
  std::string detail = ssl_error_text(e == SSL_ERROR_SYSCALL ? "unexpected EOF" : "error " + std::to_string(e));
  if (e == SSL_ERROR_SSL && SSL_get_verify_result(ssl_) != X509_V_OK)
    detail += " (" + std::string(X509_verify_cert_error_string(SSL_get_verify_result(ssl_))) + ")";
  error_ = std::string("TLS ") + what + ": " + detail;
  return Result::kError;
}

bool TlsPipe::start() {
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1 || SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) return true;
  failed(rc, "handshake");
  return false;
}

TlsPipe::Result TlsPipe::feed(std::span<const std::uint8_t> in, std::span<std::uint8_t> scratch, Sink& sink) {
  in_ = in;
  struct Clear {  // the span points into the caller's read buffer
    std::span<const std::uint8_t>& s;
    ~Clear() { s = {}; }
  } clear{in_};
  if (!established_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) return Result::kOk;
      return failed(rc, "handshake");
    }
    established_ = true;
    if (!sink.on_established()) return Result::kStopped;
  }
  for (;;) {
    std::size_t n = 0;
    const int rc = SSL_read_ex(ssl_, scratch.data(), scratch.size(), &n);
    if (rc == 1) {
      if (!sink.on_plain(scratch.first(n))) return Result::kStopped;
      continue;
    }
    if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) return Result::kOk;
    return failed(rc, "read");
  }
}

bool TlsPipe::write(std::span<const std::uint8_t> plain) {
  if (!established_ || shut_) return false;
  if (plain.empty()) return true;
  std::size_t written = 0;
  const int rc = SSL_write_ex(ssl_, plain.data(), plain.size(), &written);
  if (rc == 1 && written == plain.size()) return true;
  failed(rc, "write");
  return false;
}

void TlsPipe::close_notify() {
  if (!established_ || shut_) return;
  shut_ = true;
  (void)SSL_shutdown(ssl_);  // 0: sent, the peer's not seen; the owner closes the socket anyway
  ERR_clear_error();
}

}  // namespace wsgate::test
