#include "tests/support/tls_context.h"

#include <openssl/err.h>

namespace wsgate::test {

std::string ssl_error_text(const std::string& fallback) {
  unsigned long newest = 0;
  while (const unsigned long e = ERR_get_error()) newest = e;
  if (newest == 0) return fallback;
  char buf[256];
  ERR_error_string_n(newest, buf, sizeof buf);
  return buf;
}

std::unique_ptr<TlsClientContext> TlsClientContext::make(const TlsClientOptions& o, std::string& error) {
  auto c = std::unique_ptr<TlsClientContext>(new TlsClientContext);
  c->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = c->ctx_.get();
  if (!ctx) {
    error = ssl_error_text("SSL_CTX_new failed");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, o.version.value_or(TLS1_2_VERSION));
  if (o.version) SSL_CTX_set_max_proto_version(ctx, *o.version);
  // Thousands of idle connections per process: no 2 x 16 KiB buffers each.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (o.insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    if (o.ca_file.empty()) {
      error = "no CA file to verify the server with (--ca-file, or --insecure)";
      return nullptr;
    }
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
      error = "CA file " + o.ca_file + ": " + ssl_error_text("cannot load");
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (o.remember_sessions) {
    // Sessions (TLS 1.3: tickets, which arrive after the handshake) are handed
    // to on_new_session; OpenSSL's own client cache would only grow.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &TlsClientContext::on_new_session);
    SSL_CTX_set_app_data(ctx, c.get());
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  return c;
}

int TlsClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self) return 0;
  self->latest_.reset(session);
  return 1;  // we took the reference
}

SslCtxPtr make_tls_server_context(const std::string& cert_file, const std::string& key_file, std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = ssl_error_text("SSL_CTX_new failed");
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(c, cert_file.c_str()) != 1) {
    error = "certificate " + cert_file + ": " + ssl_error_text("cannot load");
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "key " + key_file + ": " + ssl_error_text("cannot load");
    return nullptr;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    error = "key " + key_file + " does not match certificate " + cert_file;
    return nullptr;
  }
  // One process: OpenSSL's internal server cache (TLS 1.2 ids) and its
  // stateless tickets (the default) both resume.
  SSL_CTX_set_session_id_context(c, reinterpret_cast<const unsigned char*>("wsgate-test"), 11);
  return ctx;
}

}  // namespace wsgate::test
