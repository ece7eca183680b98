// OpenSSL contexts for the test programs that speak TLS: the echo backend
// (a "direct wss server" and a wss upstream) and the bench load client.
// Written apart from wsgate's own TLS code so that they check it instead of
// agreeing with it.
//
// A client context may remember the newest session (TLS 1.2 session or TLS
// 1.3 ticket) the server gave any connection, so the next connection can
// offer it: that is how the load client measures resumed handshakes.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

namespace wsgate::test {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslSessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionFree>;

// The newest error on OpenSSL's queue as text (and the queue emptied), or
// `fallback` when the queue is empty.
std::string ssl_error_text(const std::string& fallback);

struct TlsClientOptions {
  std::string ca_file;               // verify the server against this CA bundle
  bool insecure = false;             // verify nothing (then ca_file is unused)
  bool remember_sessions = false;    // keep the newest session for resumption
  std::optional<int> version;        // TLS1_2_VERSION or TLS1_3_VERSION: only that one
};

class TlsClientContext {
 public:
  // nullptr and `error` set when the CA file cannot be loaded.
  static std::unique_ptr<TlsClientContext> make(const TlsClientOptions& o, std::string& error);
  SSL_CTX* get() const { return ctx_.get(); }
  // The newest session a server issued on this context (nullptr: none yet).
  SSL_SESSION* latest_session() const { return latest_.get(); }

 private:
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  SslCtxPtr ctx_;
  SslSessionPtr latest_;
};

// A server context with one certificate chain and key (PEM), TLS 1.2 and 1.3,
// session tickets on. nullptr and `error` set when a file is bad.
SslCtxPtr make_tls_server_context(const std::string& cert_file, const std::string& key_file, std::string& error);

}  // namespace wsgate::test
