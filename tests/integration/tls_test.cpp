// wss:// end to end (issue 13): the real wsgate with a TLS listener, the
// echo backend behind it, and clients that share no code with wsgate:
// python's ssl and websockets (tests/integration/tls_client.py) and Debian's
// `openssl s_client`. Certificates are made once per ctest run by the
// tls_certs fixture (ECDSA P-256, by the openssl CLI); each test asserts what
// a client sees, plus what the gateway logs and `wsgate status` reports.
// The TLS handshake counters are not in /metrics yet; until they are, the
// rate-limited failure line ("... (unknown_sni; N more ...)") names the
// outcome a test expects.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/gateway.h"
#include "tests/support/process.h"

namespace wsgate::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Out = std::map<std::string, std::string>;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with the websockets module

// The certificates of this run: made by the tls_certs ctest fixture, or here
// (under a lock) when the binary runs on its own.
const std::string& certs() {
  static const std::string dir = [] {
    std::string d = TLS_CERT_DIR;
    std::filesystem::create_directories(d);
    const int fd = ::open((d + "/.lock").c_str(), O_CREAT | O_RDWR, 0600);
    ::flock(fd, LOCK_EX);
    if (!std::filesystem::exists(d + "/foreign.pem")) {
      ChildProcess p({kPython, TLS_CLIENT_PY, "mkcerts", "--dir", d});
      EXPECT_TRUE(p.wait_exit(30s).ok()) << p.stderr_text();
    }
    ::flock(fd, LOCK_UN);
    ::close(fd);
    return d;
  }();
  return dir;
}

std::string cert(const std::string& name) { return certs() + "/" + name; }

Out parse_out(const std::string& text) {
  Out out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

// Runs one tls_client.py command against `port`; its key=value lines.
Out client(const std::string& command, std::uint16_t port, std::vector<std::string> args = {},
           milliseconds timeout = 30s) {
  std::vector<std::string> argv{kPython, TLS_CLIENT_PY, command, "--port", std::to_string(port), "--ca",
                                cert("ca.pem")};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess p(argv);
  const ExitStatus st = p.wait_exit(timeout);
  EXPECT_TRUE(st.ok()) << command << ": " << st.describe() << "\n" << p.stdout_text() << p.stderr_text();
  Out out = parse_out(p.stdout_text());
  out["_all"] = p.stdout_text() + p.stderr_text();
  return out;
}

double seconds(const Out& o, const std::string& key) {
  auto it = o.find(key);
  if (it == o.end() || it->second == "never") {
    return 1e9;
  }
  return std::stod(it->second);
}

std::string get(const Out& o, const std::string& key) {
  auto it = o.find(key);
  return it == o.end() ? "<none>" : it->second;
}

// Lines of `text` holding `needle`.
size_t count_lines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    n += line.find(needle) != std::string::npos ? 1 : 0;
  }
  return n;
}

// SHA-256 of a certificate as `openssl x509 -fingerprint -sha256` prints it,
// made lower-case hex without colons (what X-Client-Cert-Sha256 carries).
std::string fingerprint(const std::string& pem) {
  ChildProcess p({"openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-sha256"});
  EXPECT_TRUE(p.wait_exit(10s).ok());
  std::string text = p.stdout_text();
  std::string hex;
  for (char c : text.substr(text.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return hex;
}

struct Tls {
  std::string certificates = "        - { cert: " + cert("server.pem") + ", key: " + cert("server.key") +
                             " }\n        - { cert: " + cert("other.pem") + ", key: " + cert("other.key") + " }\n";
  std::string settings;                     // more lines under tls:, indented 6
  std::string limits = "  handshake_timeout: 2s\n";
  std::string top;                          // more top-level lines (auth:, admin:)
  std::string route = "  - { path: /chat, pool: chat }\n";
};

std::string config_text(const Tls& t, std::uint16_t backend) {
  return "listen:\n  - 127.0.0.1:{PORT}\n  - address: 127.0.0.1:{TLSPORT}\n    tls:\n      certificates:\n" +
         t.certificates + t.settings + "limits:\n" + t.limits + t.top + pool_yaml("chat", {backend}) + "routes:\n" +
         t.route;
}

// A wss gateway in front of one echo backend.
struct TlsGateway {
  EchoBackend backend{"b0"};
  Gateway gw;
  explicit TlsGateway(const Tls& t = {}, unsigned workers = 2) : gw(config_text(t, backend.port()), workers) {}
  std::uint16_t port() const { return gw.tls_port(); }
  // The rate-limited failure line names the outcome: "(unknown_sni; ...".
  bool logged_failure(const std::string& outcome, milliseconds timeout = 3000ms) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (gw.process().has_output("(" + outcome + ";")) {
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // A plain ws client on the clear-text listener still gets its echo.
  void expect_serving() {
    WsClient c = gw.open("/chat");
    ASSERT_TRUE(c.handshake_ok()) << c.handshake_error();
    c.send_text("still here");
    EXPECT_EQ(c.recv_message().payload, "still here");
    const Out o = client("echo", port(), {"--size", "10"});
    EXPECT_EQ(get(o, "echoed"), "1") << o.at("_all");
  }
};

// ------------------------------------------------------------ the happy paths

TEST(TlsEcho, WebsocketsClientEchoesSmallAndOneMebibyteMessages) {
  TlsGateway g;
  Out o = client("echo", g.port(), {"--size", "100", "--count", "5"});
  EXPECT_EQ(get(o, "connected"), "1") << o["_all"];
  EXPECT_EQ(get(o, "version"), "TLSv1.3");
  EXPECT_EQ(get(o, "echoed"), "5");
  o = client("echo", g.port(), {"--size", std::to_string(1 << 20), "--count", "2", "--tls12"});
  EXPECT_EQ(get(o, "version"), "TLSv1.2") << o["_all"];
  EXPECT_EQ(get(o, "echoed"), "2");
}

TEST(TlsEcho, SClientUpgradeGets101) {
  TlsGateway g;
  const Out o = client("sclient-upgrade", g.port());
  EXPECT_EQ(get(o, "status"), "HTTP/1.1 101 Switching Protocols") << o.at("_all");
  EXPECT_EQ(get(o, "verified"), "1");
}

TEST(TlsEcho, BackendGetsXForwardedProtoHttps) {
  TlsGateway g;
  const Out o = client("echo", g.port(), {"--count", "0", "--ask", "headers"});
  const std::string head = get(o, "answer");
  EXPECT_NE(head.find("X-Forwarded-Proto: https"), std::string::npos) << head;
  // ... and not on the clear-text listener.
  WsClient c = g.gw.open("/chat");
  ASSERT_TRUE(c.handshake_ok());
  c.send_text("headers");
  EXPECT_EQ(c.recv_message().payload.find("X-Forwarded-Proto: https"), std::string::npos);
}

// ------------------------------------------------------------ bad input

TEST(TlsBadInput, PlainHttpAndClearTextUpgradeGet400NamingWss) {
  TlsGateway g;
  for (const char* what : {"http", "upgrade"}) {
    const Out o = client("plain", g.port(), {"--what", what});
    EXPECT_EQ(get(o, "status"), "HTTP/1.1 400 Bad Request") << what << "\n" << o.at("_all");
    EXPECT_NE(get(o, "body").find("wss://"), std::string::npos) << get(o, "body");
    EXPECT_LT(seconds(o, "closed_after"), 2.0) << what;
  }
  EXPECT_TRUE(g.logged_failure("plain_http"));
  g.expect_serving();
}

TEST(TlsBadInput, RandomBytesAreClosedAndServingGoesOn) {
  TlsGateway g;
  for (int i = 0; i < 3; ++i) {
    const Out o = client("plain", g.port(), {"--what", "random"});
    EXPECT_LT(seconds(o, "closed_after"), 2.0) << o.at("_all");
  }
  EXPECT_TRUE(g.logged_failure("bad_hello"));
  g.expect_serving();
}

// A scan of the port must not fill the log: one failure line a second per
// worker at most, each saying how many it stood for.
TEST(TlsBadInput, AScanIsLoggedWithARateLimit) {
  TlsGateway g;
  const auto start = Clock::now();
  const Out o = client("scan", g.port(), {"--count", "200"});
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(get(o, "closed"), "200") << o.at("_all");
  const size_t lines = count_lines(g.gw.process().stdout_text() + g.gw.process().stderr_text(), "TLS with client");
  EXPECT_GE(lines, 1u);
  EXPECT_LE(static_cast<double>(lines), 2 * (took + 2)) << "in " << took << " s";
  g.expect_serving();
}

TEST(TlsBadInput, Tls10HelloIsRefusedWithProtocolVersion) {
  TlsGateway g;
  const Out o = client("sclient-tls1", g.port());
  EXPECT_EQ(get(o, "protocol_version_alert"), "1") << o.at("_all");
  EXPECT_EQ(get(o, "handshake_done"), "0");
  EXPECT_TRUE(g.logged_failure("protocol_version"));
  g.expect_serving();
}

TEST(TlsBadInput, HelloOneByteASecondIsClosedAtHandshakeTimeout) {
  TlsGateway g;  // handshake_timeout: 2s
  const Out o = client("slow-hello", g.port(), {"--timeout", "8"});
  EXPECT_GE(seconds(o, "closed_after"), 1.5) << o.at("_all");
  EXPECT_LE(seconds(o, "closed_after"), 5.0) << o.at("_all");
  EXPECT_LT(std::stoi(get(o, "sent")), std::stoi(get(o, "hello_size")));
  g.expect_serving();
}

TEST(TlsBadInput, SilenceAfterTheHandshakeGets408OverTls) {
  TlsGateway g;
  const Out o = client("stall", g.port(), {"--at", "established", "--timeout", "8"});
  EXPECT_EQ(get(o, "answer"), "HTTP/1.1 408 Request Timeout") << o.at("_all");
  EXPECT_GE(seconds(o, "closed_after"), 1.5);
  EXPECT_LE(seconds(o, "closed_after"), 5.0);
  g.expect_serving();
}

TEST(TlsBadInput, ClientStoppingMidHandshakeIsClosedAtHandshakeTimeout) {
  TlsGateway g;
  const Out o = client("stall", g.port(), {"--at", "hello", "--timeout", "8"});
  EXPECT_GE(seconds(o, "closed_after"), 1.5) << o.at("_all");
  EXPECT_LE(seconds(o, "closed_after"), 5.0);
  EXPECT_GT(std::stoi(get(o, "bytes_back")), 0);  // the server's flight came before the silence
  g.expect_serving();
}

TEST(TlsBadInput, RenegotiationRequestIsNotHonoured) {
  TlsGateway g;
  const Out o = client("sclient-reneg", g.port());
  EXPECT_EQ(get(o, "upgraded"), "1") << o.at("_all");
  EXPECT_EQ(get(o, "second_handshake"), "0") << o.at("_all");
  EXPECT_EQ(get(o, "no_renegotiation"), "1") << o.at("_all");
  g.expect_serving();
}

TEST(TlsBadInput, UnknownSniGetsTheDefaultCertificate) {
  TlsGateway g;
  Out o = client("handshake", g.port(), {"--sni", "nobody.test"});
  EXPECT_EQ(get(o, "handshake"), "ok") << o.at("_all");
  EXPECT_EQ(get(o, "peer_cn"), "localhost");
  EXPECT_EQ(get(o, "status"), "HTTP/1.1 101 Switching Protocols");
  o = client("handshake", g.port(), {"--sni", "other.test"});
  EXPECT_EQ(get(o, "peer_cn"), "other.test") << o.at("_all");
}

TEST(TlsBadInput, UnknownSniWithStrictSniIsRefused) {
  Tls t;
  t.settings = "      strict_sni: true\n";
  TlsGateway g(t);
  Out o = client("handshake", g.port(), {"--sni", "nobody.test"});
  EXPECT_EQ(get(o, "handshake"), "failed") << o.at("_all");
  EXPECT_NE(get(o, "error").find("UNRECOGNIZED_NAME"), std::string::npos) << get(o, "error");
  EXPECT_TRUE(g.logged_failure("unknown_sni"));
  o = client("handshake", g.port(), {"--sni", "other.test"});
  EXPECT_EQ(get(o, "peer_cn"), "other.test") << o.at("_all");
  g.expect_serving();
}

// A record with a bad MAC in the middle of a relayed message: the message's
// first frame went through; what the broken record held does not; the
// session ends and the backend connection is released.
void bad_mac(const std::string& split, const std::string& backend_sees) {
  TlsGateway g;
  const Out o = client("badmac", g.port(), {"--split", split});
  EXPECT_EQ(get(o, "status"), "HTTP/1.1 101 Switching Protocols") << o.at("_all");
  EXPECT_EQ(get(o, "first_echo"), "before the bad record");
  EXPECT_LT(seconds(o, "closed_after"), 3.0) << o.at("_all");
  g.backend.process().wait_for_output(backend_sees, 5s);
  const Status s = g.gw.wait_status([](const Status& st) { return st.total_sessions() == 0; });
  EXPECT_EQ(s.total_sessions(), 0);
  g.expect_serving();
}

// Between two frames of the message the backend gets a close (1001).
TEST(TlsBadInput, BadMacBetweenFramesOfAMessageClosesTheBackendWith1001) {
  bad_mac("fragment", "peer sent close 1001");
}

// Inside a frame a close cannot be sent (half the frame is on the backend's
// wire already): the relay's only honest end is the TCP close.
TEST(TlsBadInput, BadMacInsideAFrameCutsTheBackendConnection) {
  bad_mac("frame", "peer closed TCP without a close frame");
}

// ------------------------------------------------------------ mutual TLS

Tls mtls(const std::string& verify) {
  Tls t;
  t.settings = "      client_ca: " + cert("clientca.pem") + "\n      verify_client: " + verify + "\n";
  return t;
}

TEST(TlsClientCert, ForeignCaIsRefusedWhenRequired) {
  TlsGateway g(mtls("required"));
  Out o = client("echo", g.port(), {"--cert", cert("foreign.pem"), "--key", cert("foreign.key")});
  EXPECT_EQ(get(o, "connected"), "0") << o.at("_all");
  EXPECT_TRUE(g.logged_failure("client_cert"));
  o = client("echo", g.port());  // no certificate at all
  EXPECT_EQ(get(o, "connected"), "0") << o.at("_all");
}

TEST(TlsClientCert, BackendGetsSubjectAndFingerprintNotTheClientsCopy) {
  TlsGateway g(mtls("required"));
  const Out o = client("echo", g.port(),
                       {"--cert", cert("client.pem"), "--key", cert("client.key"), "--count", "0", "--ask", "headers",
                        "--header", "X-Client-Cert-Sha256: forged", "--header", "X-Client-Cert-Subject: CN=forged"});
  const std::string head = get(o, "answer");
  EXPECT_NE(head.find("X-Client-Cert-Sha256: " + fingerprint(cert("client.pem"))), std::string::npos) << head;
  EXPECT_NE(head.find("X-Client-Cert-Subject: "), std::string::npos) << head;
  EXPECT_NE(head.find("alice"), std::string::npos) << head;
  EXPECT_EQ(head.find("forged"), std::string::npos) << head;
}

TEST(TlsClientCert, AuthFromClientCertLooksUpTheFingerprint) {
  TempDir keys("wsgate-tls-keys");
  write_file(keys / "keys.txt", fingerprint(cert("client.pem")) + "\n");
  Tls t = mtls("optional");
  t.top = "auth:\n  certs:\n    keys_file: " + (keys / "keys.txt").string() + "\n    from: client_cert\n";
  t.route = "  - { path: /chat, pool: chat, auth: certs }\n";
  TlsGateway g(t);
  Out o = client("handshake", g.port(), {"--cert", cert("client.pem"), "--key", cert("client.key")});
  EXPECT_EQ(get(o, "status"), "HTTP/1.1 101 Switching Protocols") << o.at("_all");
  o = client("handshake", g.port(), {"--cert", cert("client2.pem"), "--key", cert("client2.key")});
  EXPECT_EQ(get(o, "status").substr(0, 12), "HTTP/1.1 401") << o.at("_all");
  o = client("handshake", g.port());
  EXPECT_EQ(get(o, "status").substr(0, 12), "HTTP/1.1 401") << o.at("_all");
}

// ------------------------------------------------------------ resumption and reloads

// 20 resumed connections, then as many after a SIGHUP in place, then after a
// reload that starts a new generation: every one resumes with the ticket of
// the connection before it. The 2 workers have a SO_REUSEPORT socket each,
// so 20 connections reach both (all on one: 2^-19); the access log says
// from the server's side that each was resumed.
void resumption_across_reloads(bool tls12) {
  TempDir flags("wsgate-tls-flags");
  Tls t;
  t.top = "log: { access: " + (flags / "access.log").string() + " }\n";
  TlsGateway g(t);
  const std::string flag = (flags / "phase").string();
  std::vector<std::string> argv{kPython,         TLS_CLIENT_PY, "resume",        "--port", std::to_string(g.port()),
                                "--ca",          cert("ca.pem"), "--count",      "20",     "--phases",
                                "3",             "--wait-file",  flag};
  if (tls12) argv.push_back("--tls12");
  ChildProcess c(argv);
  c.wait_for_output("phase0_resumed=", 20s);
  g.gw.process().send_signal(SIGHUP);
  g.gw.process().wait_for_output("applied in place", 5s);
  write_file(flag + ".1", "");
  c.wait_for_output("phase1_resumed=", 20s);
  const std::string text = read_file(g.gw.config_path());
  write_file(g.gw.config_path(), "workers: 3\n" + text.substr(text.find('\n') + 1));
  g.gw.process().send_signal(SIGHUP);
  g.gw.process().wait_for_output("accepts now", 10s);
  write_file(flag + ".2", "");
  EXPECT_TRUE(c.wait_exit(30s).ok());
  const Out o = parse_out(c.stdout_text());
  const std::string all = c.stdout_text() + c.stderr_text();
  EXPECT_EQ(get(o, "first_upgraded"), "1") << all;
  for (const char* phase : {"phase0", "phase1", "phase2"}) {
    EXPECT_EQ(get(o, std::string(phase) + "_upgraded"), "20") << all;
    EXPECT_EQ(get(o, std::string(phase) + "_resumed"), "20") << all;
  }
  const std::string version = tls12 ? " tls=TLSv1.2 " : " tls=TLSv1.3 ";
  std::string log;
  for (const auto deadline = Clock::now() + 5s; Clock::now() < deadline; std::this_thread::sleep_for(100ms)) {
    log = read_file(flags / "access.log");
    if (count_lines(log, version) >= 61) break;
  }
  EXPECT_EQ(count_lines(log, version), 61u) << log;
  EXPECT_EQ(count_lines(log, " resumed=1"), 60u) << log;
}

TEST(TlsResumption, Tls13PskAcrossWorkersSighupAndNewGeneration) { resumption_across_reloads(false); }
TEST(TlsResumption, Tls12TicketsAcrossWorkersSighupAndNewGeneration) { resumption_across_reloads(true); }

TEST(TlsReload, NewCertificateOnSighupWhileAnOpenSessionKeepsEchoing) {
  TempDir files("wsgate-tls-reload");
  std::filesystem::copy_file(cert("server.pem"), files / "site.pem");
  std::filesystem::copy_file(cert("server.key"), files / "site.key");
  Tls t;
  t.certificates = "        - { cert: " + (files / "site.pem").string() + ", key: " + (files / "site.key").string() +
                   " }\n";
  TlsGateway g(t);
  const std::string old_serial = get(client("handshake", g.port()), "peer_serial");
  const std::string until = (files / "stop").string();
  ChildProcess held({kPython, TLS_CLIENT_PY, "hold", "--port", std::to_string(g.port()), "--ca", cert("ca.pem"),
                     "--until", until});
  held.wait_for_output("held_echo=2", 10s);

  // A broken certificate file refuses the whole reload, naming the file.
  write_file(files / "site.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  g.gw.process().send_signal(SIGHUP);
  const std::string line =
      g.gw.process().wait_for_output("SIGHUP: (.*); the running configuration is unchanged", 5s, Match::kRegex);
  EXPECT_NE(line.find((files / "site.pem").string()), std::string::npos) << line;
  EXPECT_EQ(get(client("handshake", g.port()), "peer_serial"), old_serial);

  std::filesystem::copy_file(cert("server2.pem"), files / "site.pem", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert("server2.key"), files / "site.key", std::filesystem::copy_options::overwrite_existing);
  g.gw.process().send_signal(SIGHUP);
  g.gw.process().wait_for_output("certificates changed", 5s);
  const Out fresh = client("handshake", g.port());
  EXPECT_NE(get(fresh, "peer_serial"), old_serial) << fresh.at("_all");
  EXPECT_EQ(get(fresh, "status"), "HTTP/1.1 101 Switching Protocols");

  const std::string before = held.stdout_text();
  const auto deadline = Clock::now() + 5s;
  while (held.stdout_text().size() < before.size() + 24 && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  write_file(until, "");
  EXPECT_TRUE(held.wait_exit(10s).ok()) << held.stdout_text() << held.stderr_text();
  const Out h = parse_out(held.stdout_text());
  EXPECT_EQ(get(h, "held_serial"), old_serial);
  EXPECT_EQ(get(h, "held_last"), "last") << held.stdout_text() << held.stderr_text();
  EXPECT_EQ(h.count("held_bad"), 0u);
}

// ------------------------------------------------------------ wsgate -t

CommandResult check_config(const std::string& cert_file, const std::string& key_file) {
  TempDir dir("wsgate-tls-t");
  Tls t;
  t.certificates = "        - { cert: " + cert_file + ", key: " + key_file + " }\n";
  const std::string path = (dir / "wsgate.yaml").string();
  std::string text = config_text(t, 9);
  for (const auto& [mark, port] : {std::pair<std::string, std::string>{"{PORT}", "18080"}, {"{TLSPORT}", "18443"}}) {
    text.replace(text.find(mark), mark.size(), port);
  }
  write_file(path, text);
  return run_wsgate({"-t", "-c", path});
}

TEST(TlsConfigCheck, KeyNotMatchingNamesTheFile) {
  const CommandResult r = check_config(cert("server.pem"), cert("other.key"));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(cert("other.key")), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("does not match"), std::string::npos) << r.out << r.err;
}

TEST(TlsConfigCheck, ChainOutOfOrderIsAnError) {
  const CommandResult ok = check_config(cert("chain.pem"), cert("leaf.key"));
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  const CommandResult r = check_config(cert("disorder.pem"), cert("leaf.key"));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("out of order"), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(cert("disorder.pem")), std::string::npos) << r.out << r.err;
}

TEST(TlsConfigCheck, ExpiringInFiveDaysWarnsButPasses) {
  const CommandResult r = check_config(cert("expiring.pem"), cert("expiring.key"));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expires in"), std::string::npos) << r.err;
  const CommandResult fine = check_config(cert("server.pem"), cert("server.key"));
  EXPECT_EQ(fine.code, 0) << fine.out << fine.err;
  EXPECT_EQ(fine.err.find("expires"), std::string::npos) << fine.err;
}

}  // namespace
}  // namespace wsgate::test
