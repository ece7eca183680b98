// One TLS listener's OpenSSL contexts: one SSL_CTX per configured
// certificate, all with the listener's settings; the first is the default
// and SNI moves a handshake to the one whose names match. Built by a worker
// from its config and the PEM bytes the master published; a reload that
// changes only the files builds a new TlsListener, and a running session
// keeps the contexts it started with (each SSL holds a reference).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "worker/net/openssl_ptr.h"
#include "worker/net/ticket_keys.h"
#include "worker/net/tls_material.h"

namespace wsgate::worker {

class TlsListener {
 public:
  // nullptr with *error set when OpenSSL refuses a setting or a file (the
  // master checked the files, so this is rare: a cipher list it rejects).
  // `keys` (may be null: tickets off) must outlive the listener.
  static std::shared_ptr<TlsListener> build(const conf::ListenTls& settings, const ListenerPem& pem, TicketKeys* keys,
                                            std::string* error);
  ~TlsListener();
  TlsListener(const TlsListener&) = delete;
  TlsListener& operator=(const TlsListener&) = delete;

  SSL_CTX* default_context() const { return contexts_.front().get(); }
  bool verifies_clients() const { return verify_ != conf::VerifyClient::off; }

  // The first argument of SSL_CTX callbacks: the listener and the outcome
  // a callback saw that OpenSSL's error would hide (an unknown SNI).
  static TlsListener* of(SSL* ssl);

 private:
  TlsListener() = default;
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                           int encrypt);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned int inlen, void* arg);
  int context_for(const char* server_name) const;  // index, or -1

  std::vector<SslCtxPtr> contexts_;
  std::vector<std::vector<std::string>> names_;  // per context, lower case; "*.x.y" wildcards
  bool strict_sni_ = false;
  conf::VerifyClient verify_ = conf::VerifyClient::off;
  TicketKeys* keys_ = nullptr;
};

}  // namespace wsgate::worker
