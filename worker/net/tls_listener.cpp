#include "worker/net/tls_listener.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "worker/net/tls_stream.h"

namespace wsgate::worker {

namespace {

// Forward-secret AEAD suites only: what Mozilla's "intermediate" profile
// keeps for TLS 1.2.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Without tickets, a per-worker session cache this large (OpenSSL's default
// is 20,480 too); a session is ~1 KiB while cached.
constexpr long kSessionCacheSize = 20480;

int g_listener_index = -1;  // SSL_CTX ex_data slot of the TlsListener

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool name_matches(const std::string& pattern, const std::string& host) {
  if (pattern == host) {
    return true;
  }
  // "*.example.com" matches one label: "a.example.com", not "a.b.example.com".
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    const size_t dot = host.find('.');
    return dot != std::string::npos && dot > 0 && host.compare(dot, std::string::npos, pattern, 1) == 0;
  }
  return false;
}

bool use_chain(SSL_CTX* ctx, const CertificatePem& pem, std::string* error) {
  BioPtr bio = pem_bio(pem.cert);
  X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    *error = "certificate: " + openssl_error();
    return false;
  }
  for (;;) {
    X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) {
      break;
    }
    if (SSL_CTX_add1_chain_cert(ctx, c.get()) != 1) {
      *error = "chain: " + openssl_error();
      return false;
    }
  }
  ERR_clear_error();
  BioPtr kb = pem_bio(pem.key);
  PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *error = "key: " + openssl_error();
    return false;
  }
  return true;
}

bool trust_clients_of(SSL_CTX* ctx, const std::string& ca_pem, std::string* error) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  BioPtr bio = pem_bio(ca_pem);
  int added = 0;
  for (;;) {
    X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) {
      break;
    }
    X509_STORE_add_cert(store, c.get());
    if (names != nullptr) {
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(c.get())));
    }
    ++added;
  }
  ERR_clear_error();
  if (added == 0) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    *error = "client_ca: no certificate";
    return false;
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  return true;
}

}  // namespace

TlsListener::~TlsListener() = default;

TlsListener* TlsListener::of(SSL* ssl) {
  return static_cast<TlsListener*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_listener_index));
}

std::shared_ptr<TlsListener> TlsListener::build(const conf::ListenTls& settings, const ListenerPem& pem,
                                                TicketKeys* keys, std::string* error) {
  if (g_listener_index < 0) {
    g_listener_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  }
  if (pem.certificates.size() != settings.certificates.size()) {
    *error = "the published certificates do not match the configuration";
    return nullptr;
  }
  std::shared_ptr<TlsListener> l(new TlsListener());
  l->strict_sni_ = settings.strict_sni;
  l->verify_ = settings.verify_client;
  l->keys_ = settings.session_tickets ? keys : nullptr;
  // One session id context for every context of the listener: a session
  // resumes whichever certificate SNI picked.
  unsigned char sid[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(pem.address.data()), pem.address.size(), sid);
  for (size_t i = 0; i < pem.certificates.size(); ++i) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      *error = "SSL_CTX_new: " + openssl_error();
      return nullptr;
    }
    SSL_CTX* c = ctx.get();
    SSL_CTX_set_min_proto_version(c, settings.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(c, settings.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_PRIORITIZE_CHACHA);
    // Idle connections give their record buffers back (tens of KiB each).
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(c, settings.ciphers.empty() ? kDefaultCiphers : settings.ciphers.c_str()) != 1) {
      *error = "ciphers: " + openssl_error("no cipher OpenSSL knows");
      return nullptr;
    }
    if (!settings.ciphersuites.empty() && SSL_CTX_set_ciphersuites(c, settings.ciphersuites.c_str()) != 1) {
      *error = "ciphersuites: " + openssl_error("no suite OpenSSL knows");
      return nullptr;
    }
    if (!use_chain(c, pem.certificates[i], error)) {
      *error = settings.certificates[i].cert + ": " + *error;
      return nullptr;
    }
    SSL_CTX_set_session_id_context(c, sid, sizeof sid);
    if (l->keys_ != nullptr) {
      // Stateless tickets (TLS 1.2 tickets and TLS 1.3 PSK) under the
      // shared keys: nothing per session is kept by the server.
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_tlsext_ticket_key_evp_cb(c, &TlsListener::on_ticket_key);
      SSL_CTX_set_num_tickets(c, 1);
      // Keys are kept for three rotation periods; a ticket is good for two.
      SSL_CTX_set_timeout(c, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                   settings.ticket_rotation * 2)
                                                   .count()));
    } else {
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
      SSL_CTX_sess_set_cache_size(c, kSessionCacheSize);
    }
    if (settings.verify_client != conf::VerifyClient::off) {
      if (!trust_clients_of(c, pem.client_ca, error)) {
        return nullptr;
      }
      SSL_CTX_set_verify(c,
                         SSL_VERIFY_PEER | (settings.verify_client == conf::VerifyClient::required
                                                ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                : 0),
                         nullptr);
    }
    SSL_CTX_set_alpn_select_cb(c, &TlsListener::on_alpn, nullptr);
    SSL_CTX_set_ex_data(c, g_listener_index, l.get());
    std::vector<std::string> names;
    if (auto summary = summarize_certificate(pem.certificates[i].cert)) {
      for (const std::string& n : summary->names) {
        names.push_back(lower(n));
      }
    }
    l->names_.push_back(std::move(names));
    l->contexts_.push_back(std::move(ctx));
  }
  SSL_CTX_set_tlsext_servername_callback(l->default_context(), &TlsListener::on_servername);
  return l;
}

int TlsListener::context_for(const char* server_name) const {
  const std::string host = lower(server_name);
  for (size_t i = 0; i < names_.size(); ++i) {
    for (const std::string& n : names_[i]) {
      if (name_matches(n, host)) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

int TlsListener::on_servername(SSL* ssl, int* alert, void*) {
  TlsListener* self = of(ssl);
  if (self == nullptr) {
    return SSL_TLSEXT_ERR_OK;
  }
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const int i = name != nullptr ? self->context_for(name) : -1;
  if (i < 0) {
    if (!self->strict_sni_) {
      return SSL_TLSEXT_ERR_OK;  // the default certificate
    }
    if (TlsStream* s = TlsStream::of(ssl)) {
      s->note_unknown_sni();
    }
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (i > 0) {
    SSL_set_SSL_CTX(ssl, self->contexts_[static_cast<size_t>(i)].get());
  }
  return SSL_TLSEXT_ERR_OK;
}

// RFC 5077's scheme as OpenSSL runs it: we pick the key and set up the
// cipher and MAC; OpenSSL encrypts and authenticates the ticket.
int TlsListener::on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                               EVP_MAC_CTX* mac, int encrypt) {
  TlsListener* self = of(ssl);
  if (self == nullptr || self->keys_ == nullptr) {
    return encrypt != 0 ? -1 : 0;
  }
  const TicketKeySet& set = self->keys_->current();
  const TicketKey* key = nullptr;
  bool newest = false;
  if (encrypt != 0) {
    if (set.keys.empty()) {
      return 0;  // no key yet: no ticket
    }
    key = &set.keys.front();
    newest = true;
    std::memcpy(name, key->name, sizeof key->name);
    if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1) {
      return -1;
    }
  } else {
    for (size_t i = 0; i < set.keys.size(); ++i) {
      if (std::memcmp(name, set.keys[i].name, sizeof set.keys[i].name) == 0) {
        key = &set.keys[i];
        newest = i == 0;
        break;
      }
    }
    if (key == nullptr) {
      return 0;  // unknown or retired key: a full handshake
    }
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<uint8_t*>(key->hmac), sizeof key->hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) {
    return -1;
  }
  const int ok = encrypt != 0 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv)
                              : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv);
  if (ok != 1) {
    return -1;
  }
  // 2: good, but under an older key: the client gets a fresh ticket.
  return encrypt != 0 || newest ? 1 : 2;
}

// A WebSocket over TLS is HTTP/1.1 (RFC 6455); a client that offers only h2
// goes on without ALPN and fails at its upgrade, not at the handshake.
int TlsListener::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace wsgate::worker
