// Stream sources over wss:// by host name (issue 14's seed scenario): a
// local TLS feed under a test CA reached as `localhost`, with a key header
// and a userKey first message, many subscribers on one verified upstream
// connection that survives the feed's restart (and resumes its TLS
// session); and the sources wsgate must refuse, each with its reason in the
// log: expired, self-signed, another name, unknown CA, plain HTTP on the TLS
// port, a handshake that never finishes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/feed_message.h"
#include "tests/support/gateway.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- a test CA

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

std::string pem(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

void add_ext(X509* c, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  X509_add_ext(c, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` valid from `from_days` to `to_days` (relative to
// now), signed by issuer/issuer_key, or self-signed when issuer is null.
Cert make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca, long from_days,
               long to_days) {
  static long serial = 1;
  Cert c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), from_days * 86400 - 60);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), to_days * 86400);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer != nullptr ? X509_get_subject_name(issuer) : X509_get_subject_name(c.get()));
  X509_set_pubkey(c.get(), key);
  X509* signer = issuer != nullptr ? issuer : c.get();
  if (ca) {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c.get(), signer, NID_subject_alt_name, "DNS:" + cn);
  }
  X509_sign(c.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return c;
}

// PEM files in a temp dir: ca.pem, and for each leaf NAME.pem / NAME.key.
class TestPki {
 public:
  TestPki() {
    ca_key_.reset(EVP_EC_gen("P-256"));
    ca_ = make_cert("wsgate test CA", ca_key_.get(), nullptr, nullptr, true, 0, 30);
    write_file(dir_ / "ca.pem", pem(ca_.get()));
    other_key_.reset(EVP_EC_gen("P-256"));
    other_ca_ = make_cert("some other CA", other_key_.get(), nullptr, nullptr, true, 0, 30);
  }
  std::string ca() const { return (dir_ / "ca.pem").string(); }
  // kind: "good", "expired", "self-signed", "unknown-ca"
  std::pair<std::string, std::string> leaf(const std::string& file, const std::string& cn, const std::string& kind) {
    Key k(EVP_EC_gen("P-256"));
    Cert c = kind == "self-signed" ? make_cert(cn, k.get(), nullptr, nullptr, false, 0, 30)
             : kind == "unknown-ca" ? make_cert(cn, k.get(), other_ca_.get(), other_key_.get(), false, 0, 30)
             : kind == "expired"    ? make_cert(cn, k.get(), ca_.get(), ca_key_.get(), false, -30, -1)
                                    : make_cert(cn, k.get(), ca_.get(), ca_key_.get(), false, 0, 30);
    write_file(dir_ / (file + ".pem"), pem(c.get()));
    write_file(dir_ / (file + ".key"), pem(k.get()));
    return {(dir_ / (file + ".pem")).string(), (dir_ / (file + ".key")).string()};
  }

 private:
  TempDir dir_{"wsgate-pki"};
  Key ca_key_, other_key_;
  Cert ca_, other_ca_;
};

FeedSource tls_feed(const std::pair<std::string, std::string>& leaf, std::uint64_t rate = 50) {
  return FeedSource(FeedSourceOptions{
      .name = "fx", .rate = rate, .quiet = true, .extra_args = {"--tls-cert", leaf.first, "--tls-key", leaf.second}});
}

std::string wss_config(std::uint16_t port, const std::string& ca, const std::string& extra = "") {
  return "streams:\n  fx:\n    source: wss://localhost:" + std::to_string(port) + "/live\n    tls: { ca: " + ca +
         " }\n    backoff_max: 500ms\n    connect_timeout: 2s\n" + extra + "routes:\n  - { path: /fx, stream: fx }\n";
}

std::string raw_stats(const FeedSource& feed) { return http_get(feed.port(), "/_stats").body; }

long stat_number(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stol(json.substr(at + key.size() + 3));
}

uint64_t next_seq(WsClient& c, milliseconds timeout = 10000ms) {
  Message m = c.recv_message(timeout);
  std::optional<FeedMessage> f = parse_feed_message(m.payload);
  if (!f) {
    throw TestIoError("not a feed message: " + m.payload.substr(0, 120));
  }
  return f->seq;
}

// ---------------------------------------------------------------- the seed scenario

TEST(UpstreamTls, SeedScenarioWssByNameWithKeyHeaderAndUserKeySurvivesAFeedRestart) {
  TestPki pki;
  FeedSource feed = tls_feed(pki.leaf("feed", "localhost", "good"), 100);
  Gateway gw(wss_config(feed.port(), pki.ca(),
                        "    headers:\n      Authorization: \"Bearer ${FX_TOKEN}\"\n"
                        "    on_connect_send:\n      - '{\"userKey\":\"${FX_KEY}\",\"symbol\":\"EURUSD,GBPUSD\"}'\n"),
             2, {"FX_TOKEN=tok-42", "FX_KEY=key-7"});
  // 100 here; the 1,000 by hand: WSGATE_TEST_SEED_SUBSCRIBERS=1000.
  const char* n_env = std::getenv("WSGATE_TEST_SEED_SUBSCRIBERS");
  const int kSubscribers = n_env != nullptr ? std::atoi(n_env) : 100;
  std::vector<WsClient> subs;
  for (int i = 0; i < kSubscribers; ++i) {
    subs.push_back(gw.open("/fx"));
    ASSERT_TRUE(subs.back().handshake_ok()) << i << ": " << subs.back().handshake_error();
  }
  Status st = gw.wait_status(
      [&](const Status& s) {
        const ChannelStatus* c = s.channel("fx");
        return c != nullptr && c->subscribers == kSubscribers && c->upstream == "up";
      },
      20000ms);
  ASSERT_NE(st.channel("fx"), nullptr);
  ASSERT_EQ(st.channel("fx")->upstream, "up");
  for (auto& s : subs) {
    next_seq(s);
  }
  FeedStats fs = feed.wait_stats([](const FeedStats& s) { return !s.received.empty(); });
  ASSERT_EQ(fs.texts("/live"), (std::vector<std::string>{"{\"userKey\":\"key-7\",\"symbol\":\"EURUSD,GBPUSD\"}"}));
  EXPECT_EQ(fs.connections_total, 1u) << "one upstream connection for every subscriber";
  const std::string raw = raw_stats(feed);
  EXPECT_EQ(stat_number(raw, "tls_handshakes"), 1) << raw;
  EXPECT_NE(raw.find("\"last_authorization\":\"Bearer tok-42\""), std::string::npos) << raw;
  gw.process().wait_for_output("connected to wss://localhost:" + std::to_string(feed.port()) + "/live over TLS");

  // Kill and restart: the subscribers stay, the feeder reconnects, resumes
  // its TLS session (the restarted feed takes the same tickets) and sends
  // the userKey message again.
  feed.kill();
  std::this_thread::sleep_for(300ms);
  feed.restart();
  for (size_t i = 0; i < subs.size(); ++i) {
    bool fresh = false;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!fresh && std::chrono::steady_clock::now() < deadline) {
      fresh = next_seq(subs[i], 15000ms) < 50;  // the restarted feed counts from 1
    }
    ASSERT_TRUE(fresh) << "subscriber " << i << " did not get the restarted feed";
  }
  fs = feed.wait_stats([](const FeedStats& s) { return !s.received.empty(); });
  EXPECT_EQ(fs.texts("/live"), (std::vector<std::string>{"{\"userKey\":\"key-7\",\"symbol\":\"EURUSD,GBPUSD\"}"}));
  const std::string after = raw_stats(feed);
  EXPECT_EQ(stat_number(after, "tls_handshakes"), 1) << after;
  EXPECT_EQ(stat_number(after, "tls_resumed"), 1) << "the reconnect did not resume: " << after;
  EXPECT_NE(after.find("\"last_authorization\":\"Bearer tok-42\""), std::string::npos) << after;
  EXPECT_TRUE(gw.process().has_output(", resumed"));
}

// ---------------------------------------------------------------- refusals

// A subscriber waits; the feeder refuses the source with `reason` in its
// log, and never reaches "up".
void expect_refused(const std::string& kind, const std::string& cn, const std::string& reason) {
  TestPki pki;
  FeedSource feed = tls_feed(pki.leaf("feed", cn, kind));
  Gateway gw(wss_config(feed.port(), pki.ca()), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok()) << sub.handshake_error();
  gw.process().wait_for_output(reason, 10000ms);
  const Status st = gw.status();
  ASSERT_NE(st.channel("fx"), nullptr);
  EXPECT_NE(st.channel("fx")->upstream, "up");
  EXPECT_EQ(st.channel("fx")->subscribers, 1);
  EXPECT_EQ(stat_number(raw_stats(feed), "tls_handshakes"), 0);
}

TEST(UpstreamTls, ExpiredCertificateIsRefused) {
  expect_refused("expired", "localhost", "TLS handshake failed: certificate verify failed: certificate has expired");
}

TEST(UpstreamTls, SelfSignedCertificateIsRefused) {
  expect_refused("self-signed", "localhost", "TLS handshake failed: certificate verify failed: self-signed certificate");
}

TEST(UpstreamTls, CertificateForAnotherNameIsRefused) {
  expect_refused("good", "feed.example.com", "TLS handshake failed: host name mismatch");
}

TEST(UpstreamTls, UnknownCaIsRefused) {
  expect_refused("unknown-ca", "localhost",
                 "TLS handshake failed: certificate verify failed: unable to get local issuer certificate");
}

TEST(UpstreamTls, VerifyFalseConnectsAndWarns) {
  TestPki pki;
  FeedSource feed = tls_feed(pki.leaf("feed", "localhost", "self-signed"));
  Gateway gw("streams:\n  fx:\n    source: wss://localhost:" + std::to_string(feed.port()) +
                 "/live\n    tls: { verify: false }\nroutes:\n  - { path: /fx, stream: fx }\n",
             1);
  gw.process().wait_for_output("tls.verify is false");
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok()) << sub.handshake_error();
  next_seq(sub);
  // Said again at every reload, changed or not.
  auto warnings = [&] {
    const std::string log = gw.process().stdout_text() + gw.process().stderr_text();
    size_t n = 0;
    for (size_t at = log.find("tls.verify is false"); at != std::string::npos; at = log.find("tls.verify", at + 1)) {
      ++n;
    }
    return n;
  };
  const size_t before = warnings();
  gw.process().send_signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (warnings() == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(warnings(), before);
}

// A loopback listener run by the test: each accepted connection is read and
// answered with `answer` (nothing: it stays silent), then held open.
class RawServer {
 public:
  explicit RawServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : clients_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void run() {
    while (!stop_ && accepted_ < 64) {  // bounded: a test never needs more
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      clients_.push_back(c);
      char buf[4096];
      if (::recv(c, buf, sizeof buf, 0) > 0 && !answer_.empty()) {
        (void)::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
        ::shutdown(c, SHUT_WR);
      }
    }
  }
  std::string answer_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::vector<int> clients_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
};

TEST(UpstreamTls, PlainHttpOnTheTlsPortIsRefusedWithItsReason) {
  RawServer http("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  TestPki pki;
  Gateway gw(wss_config(http.port(), pki.ca()), 1);
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok()) << sub.handshake_error();
  gw.process().wait_for_output("the peer does not speak TLS here", 10000ms);
  EXPECT_NE(gw.status().channel("fx")->upstream, "up");
}

TEST(UpstreamTls, HandshakeThatNeverFinishesIsBoundedByConnectTimeoutAndRetried) {
  RawServer silent("");
  TestPki pki;
  Gateway gw("streams:\n  fx:\n    source: wss://localhost:" + std::to_string(silent.port()) + "/live\n    tls: { ca: " +
                 pki.ca() + " }\n    connect_timeout: 300ms\n    backoff_max: 300ms\nroutes:\n  - { path: /fx, stream: fx }\n",
             1);
  const auto t0 = std::chrono::steady_clock::now();
  WsClient sub = gw.open("/fx");
  ASSERT_TRUE(sub.handshake_ok()) << sub.handshake_error();
  gw.process().wait_for_output("TLS handshake timeout after 300 ms", 10000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  // Backed off and tried again: the source is not given up, the subscriber stays.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (silent.accepted() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(silent.accepted(), 3);
  EXPECT_EQ(gw.status().channel("fx")->subscribers, 1);
}

}  // namespace
}  // namespace wsgate::test
