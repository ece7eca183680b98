// The OpenSSL context wsgate dials upstreams with (wss:// stream sources;
// meant for pool backends and the prober too): verification on unless the
// config says `verify: false`, the system store or the configured CA, an
// optional client certificate, ALPN http/1.1, and a session cache of one
// session per upstream key, so the next dial to the same upstream resumes
// instead of paying a full handshake. TLS 1.3 tickets arrive after the
// handshake: the new-session callback keeps the newest one for the key.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "conf/config.h"
#include "worker/net/openssl_ptr.h"
#include "worker/net/tls_stream.h"

namespace wsgate::worker {

class TlsClientContext {
 public:
  // nullptr with *error set when OpenSSL refuses the CA, certificate or key.
  static std::shared_ptr<TlsClientContext> build(const conf::UpstreamTls& settings, std::string* error);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A client stream to `server_name`, offering the last session kept under
  // `key` and keeping the ones this connection receives there. The key must
  // outlive nothing: the context copies it. nullptr when out of memory.
  std::unique_ptr<TlsStream> open(const std::string& server_name, const std::string& key);

  bool verifies() const { return verify_; }
  SSL_CTX* get() const { return ctx_.get(); }
  // Sessions offered and resumed, over the process's life (for logs and tests).
  uint64_t offered() const { return offered_; }

 private:
  struct SessionFree {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
  };
  using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;
  struct Slot {
    SessionPtr session;
  };

  TlsClientContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SslCtxPtr ctx_;
  bool verify_ = true;
  std::map<std::string, std::unique_ptr<Slot>> sessions_;  // one per upstream, never shrinks past them
  uint64_t offered_ = 0;
};

}  // namespace wsgate::worker
