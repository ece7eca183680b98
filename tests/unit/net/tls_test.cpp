// The TLS pieces without sockets: the material the master publishes, the
// ticket key set it rotates, and a server TlsStream driven by an in-memory
// OpenSSL client through the listener's contexts (SNI, resumption under
// shared keys, a tampered record).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <cstring>
#include <ctime>
#include <string>

#include "worker/net/openssl_ptr.h"
#include "worker/net/ticket_keys.h"
#include "worker/net/tls_listener.h"
#include "worker/net/tls_material.h"
#include "worker/net/tls_stream.h"

namespace wsgate::worker {
namespace {

std::string pem_of(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

std::string pem_of(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b.get(), &p);
  return std::string(p, static_cast<size_t>(n));
}

// A self-signed ECDSA certificate for `name` (SAN DNS:name), valid `days`.
CertificatePem self_signed(const std::string& name, long days = 30) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), days * 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), X509_get_subject_name(c.get()));
  X509_set_pubkey(c.get(), key.get());
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c.get(), c.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, ("DNS:" + name).c_str());
  X509_add_ext(c.get(), ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(c.get(), key.get(), EVP_sha256());
  return CertificatePem{pem_of(c.get()), pem_of(key.get())};
}

TEST(TlsMaterial, SerializeParseRoundTrip) {
  TlsMaterial m;
  m.listeners.push_back(ListenerPem{"0.0.0.0:8443", {{"C1\n", "K1"}, {"C2", std::string("K\0\n2", 4)}}, "CA"});
  m.listeners.push_back(ListenerPem{"[::1]:9443", {{"c", "k"}}, ""});
  const auto back = TlsMaterial::parse(m.serialize());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, m);
  ASSERT_NE(back->find("[::1]:9443"), nullptr);
  EXPECT_EQ(back->find("1.2.3.4:1"), nullptr);
  EXPECT_FALSE(TlsMaterial::parse("nope").has_value());
  std::string cut = m.serialize();
  cut.resize(cut.size() - 4);  // inside the last key record
  EXPECT_FALSE(TlsMaterial::parse(cut).has_value());
}

TEST(TlsMaterial, SummaryNamesAndExpiry) {
  const CertificatePem c = self_signed("example.test", 10);
  const auto s = summarize_certificate(c.cert);
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->names.size(), 1U);
  EXPECT_EQ(s->names[0], "example.test");
  EXPECT_NEAR(static_cast<double>(s->not_after - time(nullptr)), 10 * 24 * 3600, 120);
  EXPECT_FALSE(summarize_certificate("garbage").has_value());
}

TEST(TicketKeys, RotationKeepsThreeNewestFirst) {
  TicketKeySet s;
  s = s.rotated();
  const TicketKey first = s.keys[0];
  s = s.rotated().rotated().rotated();
  ASSERT_EQ(s.keys.size(), TicketKeySet::kKept);
  EXPECT_NE(std::memcmp(s.keys[0].name, first.name, sizeof first.name), 0);
  const auto back = TicketKeySet::parse(s.serialize());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->serialize(), s.serialize());
  EXPECT_FALSE(TicketKeySet::parse("short").has_value());
}

// A client SSL over memory BIOs talking to a server TlsStream.
class Pair {
 public:
  Pair(SSL_CTX* server_ctx, const std::string& sni, SSL_SESSION* resume = nullptr)
      : client_ctx_(SSL_CTX_new(TLS_client_method())), server_(TlsStream::server(server_ctx)) {
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_NONE, nullptr);
    client_.reset(SSL_new(client_ctx_.get()));
    to_server_ = BIO_new(BIO_s_mem());
    from_server_ = BIO_new(BIO_s_mem());
    SSL_set_bio(client_.get(), from_server_, to_server_);
    SSL_set_connect_state(client_.get());
    if (!sni.empty()) {
      SSL_set_tlsext_host_name(client_.get(), sni.c_str());
    }
    if (resume != nullptr) {
      SSL_set_session(client_.get(), resume);
    }
    server_->set_output(&server_out_);
  }

  // Runs both sides until neither moves; true when both are established.
  bool handshake() {
    for (int i = 0; i < 20; ++i) {
      SSL_do_handshake(client_.get());
      pump_to_server();
      if (server_->failure() != shm::TlsOutcome::ok) {
        return false;
      }
      pump_to_client();
      if (SSL_is_init_finished(client_.get()) && server_->established()) {
        // TLS 1.3 tickets come after the handshake: let the client read them.
        char b[16];
        SSL_read(client_.get(), b, sizeof b);
        return true;
      }
    }
    return false;
  }

  void pump_to_server() {
    char buf[65536];
    const int n = BIO_read(to_server_, buf, sizeof buf);
    if (n <= 0) {
      return;
    }
    wire_ = std::string(buf, static_cast<size_t>(n));
    deliver_wire();
  }

  void deliver_wire() {
    server_->set_input(reinterpret_cast<const uint8_t*>(wire_.data()), wire_.size());
    if (!server_->established()) {
      if (server_->handshake() != TlsStream::Result::done) {
        return;
      }
    }
    uint8_t out[65536];
    TlsStream::Result r = TlsStream::Result::more;
    for (;;) {
      const size_t k = server_->read(out, sizeof out, &r);
      if (k == 0) {
        break;
      }
      received_.append(reinterpret_cast<char*>(out), k);
    }
    last_ = r;
  }

  void pump_to_client() {
    if (!server_out_.empty()) {
      BIO_write(from_server_, server_out_.data(), static_cast<int>(server_out_.size()));
      server_out_.clear();
    }
  }

  SSL* client() { return client_.get(); }
  TlsStream& server() { return *server_; }
  std::string& wire() { return wire_; }
  const std::string& received() const { return received_; }
  TlsStream::Result last() const { return last_; }

 private:
  SslCtxPtr client_ctx_;
  SslPtr client_;
  BIO* to_server_ = nullptr;
  BIO* from_server_ = nullptr;
  std::unique_ptr<TlsStream> server_;
  Bytes server_out_;
  std::string wire_;
  std::string received_;
  TlsStream::Result last_ = TlsStream::Result::more;
};

struct Fixture : ::testing::Test {
  Fixture() {
    settings.certificates = {{"a.pem", "a.key", 1}, {"b.pem", "b.key", 2}};
    pem.address = "127.0.0.1:8443";
    pem.certificates = {self_signed("a.test"), self_signed("b.test")};
  }
  std::shared_ptr<TlsListener> build(TicketKeys* keys) {
    std::string why;
    auto l = TlsListener::build(settings, pem, keys, &why);
    EXPECT_TRUE(l) << why;
    return l;
  }
  conf::ListenTls settings;
  ListenerPem pem;
};

std::string peer_cn(SSL* ssl) {
  X509* c = SSL_get0_peer_certificate(ssl);
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn);
  return cn;
}

TEST_F(Fixture, SniPicksTheCertificateAndDataFlows) {
  auto l = build(nullptr);
  Pair p(l->default_context(), "b.test");
  ASSERT_TRUE(p.handshake());
  EXPECT_EQ(peer_cn(p.client()), "b.test");
  SSL_write(p.client(), "hello", 5);
  p.pump_to_server();
  EXPECT_EQ(p.received(), "hello");

  Pair q(l->default_context(), "unknown.test");  // not strict: the default certificate
  ASSERT_TRUE(q.handshake());
  EXPECT_EQ(peer_cn(q.client()), "a.test");
}

TEST_F(Fixture, StrictSniRefusesAnUnknownName) {
  settings.strict_sni = true;
  auto l = build(nullptr);
  Pair p(l->default_context(), "unknown.test");
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server().failure(), shm::TlsOutcome::unknown_sni);
  Pair q(l->default_context(), "a.test");
  EXPECT_TRUE(q.handshake());
}

TEST_F(Fixture, ProtocolVersionOutsideTheListenersIsCounted) {
  settings.tls12 = false;  // TLS 1.3 only
  auto l = build(nullptr);
  Pair p(l->default_context(), "a.test");
  SSL_set_max_proto_version(p.client(), TLS1_2_VERSION);
  EXPECT_FALSE(p.handshake());
  EXPECT_EQ(p.server().failure(), shm::TlsOutcome::protocol_version);
}

// A session from one listener object resumes on another built from the
// same shared keys: what two workers, or a worker before and after a
// reload, are.
TEST_F(Fixture, ResumesAcrossListenersSharingTicketKeys) {
  shm::ConfigBlob blob = shm::ConfigBlob::create("/wsgate-unit-tls-" + std::to_string(getpid()));
  ASSERT_TRUE(blob.publish(TicketKeySet{}.rotated().serialize()));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TicketKeys keys_a(&blob);
    TicketKeys keys_b(&blob);
    auto worker_a = build(&keys_a);
    auto worker_b = build(&keys_b);
    ASSERT_TRUE(worker_a && worker_b);

    Pair first(worker_a->default_context(), "a.test");
    SSL_set_max_proto_version(first.client(), version);
    ASSERT_TRUE(first.handshake());
    EXPECT_FALSE(first.server().resumed());
    SSL_SESSION* session = SSL_get1_session(first.client());
    ASSERT_NE(session, nullptr);

    Pair second(worker_b->default_context(), "a.test", session);
    SSL_set_max_proto_version(second.client(), version);
    ASSERT_TRUE(second.handshake());
    EXPECT_TRUE(second.server().resumed()) << "version " << version;
    SSL_SESSION_free(session);
  }
}

TEST_F(Fixture, ATamperedRecordFailsAndDeliversNothingOfIt) {
  auto l = build(nullptr);
  Pair p(l->default_context(), "a.test");
  ASSERT_TRUE(p.handshake());
  SSL_write(p.client(), "good", 4);
  p.pump_to_server();
  EXPECT_EQ(p.received(), "good");
  SSL_write(p.client(), "evil", 4);
  char buf[1024];
  const int n = BIO_read(SSL_get_wbio(p.client()), buf, sizeof buf);
  ASSERT_GT(n, 10);
  buf[n - 1] = static_cast<char>(buf[n - 1] ^ 1);  // the tag
  p.wire() = std::string(buf, static_cast<size_t>(n));
  p.deliver_wire();
  EXPECT_EQ(p.received(), "good");
  EXPECT_EQ(p.last(), TlsStream::Result::failed);
  EXPECT_NE(p.server().failure(), shm::TlsOutcome::ok);
}

TEST_F(Fixture, NotTlsAtAll) {
  auto l = build(nullptr);
  Pair p(l->default_context(), "");
  p.wire() = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  p.deliver_wire();
  EXPECT_EQ(p.server().failure(), shm::TlsOutcome::plain_http);
  Pair q(l->default_context(), "");
  q.wire() = std::string(300, '\x01');
  q.deliver_wire();
  EXPECT_EQ(q.server().failure(), shm::TlsOutcome::bad_hello);
}

}  // namespace
}  // namespace wsgate::worker
