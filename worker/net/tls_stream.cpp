#include "worker/net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <climits>
#include <cstring>

namespace wsgate::worker {

namespace {

int g_stream_index = -1;  // SSL ex_data slot of the TlsStream

shm::TlsOutcome outcome_of(unsigned long err, bool established) {
  if (ERR_GET_LIB(err) != ERR_LIB_SSL) {
    return established ? shm::TlsOutcome::other : shm::TlsOutcome::bad_hello;
  }
  switch (ERR_GET_REASON(err)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST: return shm::TlsOutcome::plain_http;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE: return shm::TlsOutcome::protocol_version;
    case SSL_R_NO_SHARED_CIPHER: return shm::TlsOutcome::no_shared_cipher;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED: return shm::TlsOutcome::client_cert;
    default: return established ? shm::TlsOutcome::other : shm::TlsOutcome::bad_hello;
  }
}

}  // namespace

BIO_METHOD* TlsStream::bio_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsgate-conn");
    BIO_meth_set_read(method, &TlsStream::bio_read);
    BIO_meth_set_write(method, &TlsStream::bio_write);
    BIO_meth_set_ctrl(method, &TlsStream::bio_ctrl);
    BIO_meth_set_create(method, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return method;
  }();
  return m;
}

int TlsStream::bio_read(BIO* b, char* out, int n) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (self == nullptr || self->in_left_ == 0 || n <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  const size_t k = std::min(self->in_left_, static_cast<size_t>(n));
  std::memcpy(out, self->in_, k);
  self->in_ += k;
  self->in_left_ -= k;
  return static_cast<int>(k);
}

// Never blocks: the output queue takes everything; TcpConn's owner bounds it
// through pending(), as it does for a plain connection.
int TlsStream::bio_write(BIO* b, const char* data, int n) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (n <= 0) {
    return 0;
  }
  if (self != nullptr && self->out_ != nullptr) {
    self->out_->insert(self->out_->end(), reinterpret_cast<const uint8_t*>(data),
                       reinterpret_cast<const uint8_t*>(data) + n);
  }
  return n;
}

long TlsStream::bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

std::unique_ptr<TlsStream> TlsStream::make(SSL_CTX* ctx) {
  if (g_stream_index < 0) {
    g_stream_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  }
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  BIO* bio = BIO_new(bio_method());
  if (bio == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(ssl)));
  BIO_set_data(bio, s.get());
  SSL_set_bio(s->ssl_.get(), bio, bio);  // one BIO both ways, owned by the SSL
  SSL_set_ex_data(s->ssl_.get(), g_stream_index, s.get());
  return s;
}

std::unique_ptr<TlsStream> TlsStream::server(SSL_CTX* ctx) {
  std::unique_ptr<TlsStream> s = make(ctx);
  if (s) {
    SSL_set_accept_state(s->ssl_.get());
  }
  return s;
}

std::unique_ptr<TlsStream> TlsStream::client(SSL_CTX* ctx, const std::string& server_name, SSL_SESSION* resume) {
  std::unique_ptr<TlsStream> s = make(ctx);
  if (!s) {
    return nullptr;
  }
  SSL* ssl = s->ssl_.get();
  s->client_ = true;
  SSL_set_connect_state(ssl);
  unsigned char ip[16];
  const bool literal = inet_pton(AF_INET, server_name.c_str(), ip) == 1 || inet_pton(AF_INET6, server_name.c_str(), ip) == 1;
  bool ok = true;
  if (!literal) {
    ok = SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;  // RFC 6066: no SNI for an address
  }
  if (ok && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
    // SSL_set1_host checks names (and an IP literal as an IP) after the chain.
    ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1
                 : SSL_set1_host(ssl, server_name.c_str()) == 1;
  }
  if (ok && resume != nullptr) {
    ok = SSL_set_session(ssl, resume) == 1;
  }
  if (!ok) {
    ERR_clear_error();
    return nullptr;
  }
  return s;
}

TlsStream::TlsStream(SslPtr ssl) : ssl_(std::move(ssl)) {}

TlsStream::~TlsStream() {
  if (ssl_) {
    BIO_set_data(SSL_get_rbio(ssl_.get()), nullptr);
  }
}

TlsStream* TlsStream::of(SSL* ssl) {
  return g_stream_index < 0 ? nullptr : static_cast<TlsStream*>(SSL_get_ex_data(ssl, g_stream_index));
}

void TlsStream::fail(int ssl_error) {
  const unsigned long err = ERR_peek_error();
  if (unknown_sni_) {
    failure_ = shm::TlsOutcome::unknown_sni;
    failure_text_ = "unknown server name (strict_sni)";
  } else if (err != 0) {
    failure_ = outcome_of(err, established_);
    const char* reason = ERR_reason_error_string(err);
    failure_text_ = reason != nullptr ? reason : "TLS error";
    if (client_ && ERR_GET_LIB(err) == ERR_LIB_SSL &&
        (ERR_GET_REASON(err) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(err) == SSL_R_PACKET_LENGTH_TOO_LONG)) {
      failure_text_ += " (the peer does not speak TLS here: plain HTTP or ws://?)";
    }
    if (client_ && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      describe_verify_failure();
    } else if (failure_ == shm::TlsOutcome::client_cert) {
      const long v = SSL_get_verify_result(ssl_.get());
      if (v != X509_V_OK) {
        failure_text_ += std::string(": ") + X509_verify_cert_error_string(v);
      }
    }
  } else {
    failure_ = established_ ? shm::TlsOutcome::other : shm::TlsOutcome::bad_hello;
    failure_text_ = ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS error";
  }
  ERR_clear_error();
}

// As the operator reads it: "certificate verify failed: certificate has
// expired", "host name mismatch".
void TlsStream::describe_verify_failure() {
  const long v = SSL_get_verify_result(ssl_.get());
  if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    failure_text_ = "host name mismatch";
  } else if (v != X509_V_OK) {
    failure_text_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
}

TlsStream::Result TlsStream::handshake() {
  if (in_left_ > 0) {
    started_ = true;
  }
  const int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    established_ = true;
    return Result::done;
  }
  const int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    return Result::more;
  }
  fail(e);
  return Result::failed;
}

size_t TlsStream::read(uint8_t* buf, size_t cap, Result* r) {
  const int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(cap, INT_MAX)));
  if (n > 0) {
    *r = Result::done;
    return static_cast<size_t>(n);
  }
  const int e = SSL_get_error(ssl_.get(), n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    *r = Result::more;
  } else if (e == SSL_ERROR_ZERO_RETURN) {
    closed_ = true;
    *r = Result::closed;
  } else {
    fail(e);
    *r = Result::failed;
  }
  return 0;
}

bool TlsStream::write(const uint8_t* data, size_t n) {
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<size_t>(n, 1U << 30));
    const int w = SSL_write(ssl_.get(), data, chunk);
    if (w <= 0) {
      fail(SSL_get_error(ssl_.get(), w));
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void TlsStream::close_notify() {
  if (established_ && !closed_ && failure_ == shm::TlsOutcome::ok) {
    closed_ = true;
    SSL_shutdown(ssl_.get());  // writes close_notify; the peer's is not waited for
    ERR_clear_error();
  }
}

bool TlsStream::peer_certificate(std::string* subject, std::string* sha256) const {
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (cert == nullptr || SSL_get_verify_result(ssl_.get()) != X509_V_OK) {
    return false;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    ERR_clear_error();
    return false;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  sha256->clear();
  for (unsigned int i = 0; i < len; ++i) {
    sha256->push_back(kHex[md[i] >> 4]);
    sha256->push_back(kHex[md[i] & 15]);
  }
  // RFC 2253 with control and non-ASCII bytes escaped: safe in a header.
  BioPtr bio(BIO_new(BIO_s_mem()));
  subject->clear();
  if (bio && X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* p = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &p);
    if (n > 0 && p != nullptr) {
      subject->assign(p, static_cast<size_t>(std::min<long>(n, 1024)));
    }
  }
  ERR_clear_error();
  return true;
}

}  // namespace wsgate::worker
