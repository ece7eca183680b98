#include "worker/net/tls_client_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace wsgate::worker {

namespace {

int g_slot_index = -1;  // SSL ex_data: the Slot a connection's sessions go to

bool load_ca(SSL_CTX* ctx, const std::string& pem, std::string* error) {
  BioPtr bio = pem_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      *error = "cannot add a CA certificate: " + openssl_error();
      return false;
    }
    ++added;
  }
  ERR_clear_error();  // the end of the PEM stream reads as an error
  if (added == 0) {
    *error = "no certificate in the CA file";
    return false;
  }
  return true;
}

bool load_client_certificate(SSL_CTX* ctx, const conf::UpstreamTls& s, std::string* error) {
  BioPtr bio = pem_bio(s.cert_pem);
  X509Ptr leaf(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    *error = "client certificate " + s.cert + ": " + openssl_error("no certificate");
    return false;
  }
  for (;;) {
    X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!extra || SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1) {
      break;
    }
  }
  ERR_clear_error();
  BioPtr kbio = pem_bio(s.key_pem);
  PkeyPtr key(kbio ? PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *error = "client key " + s.key + ": " + openssl_error("no key, or not the certificate's");
    return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<TlsClientContext> TlsClientContext::build(const conf::UpstreamTls& s, std::string* error) {
  if (g_slot_index < 0) {
    g_slot_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  }
  std::shared_ptr<TlsClientContext> c(new TlsClientContext());
  c->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = c->ctx_.get();
  if (ctx == nullptr) {
    *error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, s.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, s.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  c->verify_ = s.verify;
  if (s.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!s.ca_pem.empty()) {
      if (!load_ca(ctx, s.ca_pem, error)) {
        *error = s.ca + ": " + *error;
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      *error = "cannot load the system CA store: " + openssl_error();
      return nullptr;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!s.cert_pem.empty() && !load_client_certificate(ctx, s, error)) {
    return nullptr;
  }
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn) != 0) {  // 0 is success here
    *error = "ALPN: " + openssl_error();
    return nullptr;
  }
  // Sessions are kept by us, per upstream, not in OpenSSL's internal cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &TlsClientContext::on_new_session);
  return c;
}

TlsClientContext::~TlsClientContext() = default;

std::unique_ptr<TlsStream> TlsClientContext::open(const std::string& server_name, const std::string& key) {
  std::unique_ptr<Slot>& slot = sessions_[key];
  if (!slot) {
    slot = std::make_unique<Slot>();
  }
  SSL_SESSION* resume = slot->session && SSL_SESSION_is_resumable(slot->session.get()) == 1 ? slot->session.get() : nullptr;
  std::unique_ptr<TlsStream> s = TlsStream::client(ctx_.get(), server_name, resume);
  if (s) {
    SSL_set_ex_data(s->native(), g_slot_index, slot.get());
    offered_ += resume != nullptr ? 1 : 0;
  }
  return s;
}

// Keeps the newest session of the upstream; 1 = we took the reference.
int TlsClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<Slot*>(SSL_get_ex_data(ssl, g_slot_index));
  if (slot == nullptr) {
    return 0;
  }
  slot->session.reset(session);
  return 1;
}

}  // namespace wsgate::worker
