#include "tests/bench/options.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace wsgate::bench {

namespace {

constexpr std::uint32_t kMaxConnections = 19'000;  // one process holds < 20,000 fds
constexpr std::uint32_t kMaxInflight = 64;
constexpr std::size_t kMaxSize = 64 * 1024 * 1024;
constexpr std::uint32_t kMaxSessions = 2'000'000;
constexpr double kMaxSeconds = 3600;

const char* kUsage =
    "usage: wsgate-bench-client MODE --url ws[s]://127.0.0.1:PORT/PATH [options]\n"
    "modes:\n"
    "  echo       C connections, K messages in flight each; messages/s, MB/s, latency\n"
    "  handshake  sessions of connect, upgrade, one echo, close; sessions/s, latency\n"
    "  idle       open C sessions (one echo each), report, hold until SIGTERM/SIGUSR1 or --hold\n"
    "  subscribe  open C subscribers to a feed (tests/support's wsgate-feed-source, direct or\n"
    "             through a proxy), wait until each got a message, then measure deliveries/s,\n"
    "             sequence gaps, duplicates and latency (feed send time -> receive)\n"
    "options:\n"
    "  --url URL               target, ws:// or wss://; repeat to spread connections round-robin\n"
    "  --source A[,B...]       bind connections to these 127.0.0.x addresses, round-robin\n"
    "  --connections C         echo/idle/subscribe connections (default 100, max 19000)\n"
    "  --inflight K            echo: messages in flight per connection (default 1, max 64)\n"
    "  --size BYTES            message size (default 64, 8..64MiB)\n"
    "  --duration S            echo/subscribe: measured seconds (default 5); handshake: time cap\n"
    "  --warmup S              echo/subscribe: seconds before measuring (default 1)\n"
    "  --max-messages N        echo: hard cap on messages sent\n"
    "  --sessions N            handshake: sessions (default 5000)\n"
    "  --concurrency K         handshake: sessions in flight; echo/idle: connects in flight\n"
    "  --hold S                idle: longest hold after ready (default 120)\n"
    "  --timeout S             echo/idle/subscribe: time to open all connections (default 60)\n"
    "  --connect-rate R        subscribe: at most R connects started per second (default: no limit)\n"
    "  --wait-go S             subscribe: once subscribed, wait up to S s for SIGUSR2 before the\n"
    "                          warm-up (lines up several client processes; default 0: no wait)\n"
    "  --header 'Name: value'  add this header to every upgrade request (repeatable)\n"
    "wss:// (OpenSSL; SNI and the name checked are the URL's host, an IP literal is checked as an IP):\n"
    "  --ca-file FILE          verify the server's certificate against this CA (PEM)\n"
    "  --insecure              verify nothing\n"
    "  --resume                offer the newest session/ticket a server gave this process (the\n"
    "                          previous connection's): measures resumed handshakes; without it\n"
    "                          every handshake is full (no tickets asked for)\n"
    "  --tls-version 1.2|1.3   only this version (default: either, 1.3 preferred)\n"
    "  The result line has \"tls\":{\"full\":N,\"resumed\":N,\"resumed_share\":F,\"offered\":N,\n"
    "  \"resumed_of_offered\":F} (offered: handshakes that had a session to offer; the first\n"
    "  connections of a run have none yet).\n"
    "Prints JSON lines on stdout; the last is {\"event\":\"result\",...}.\n";

// An IPv4 literal, or a name resolved once here (e.g. "localhost", so that a
// wss URL can carry a name for SNI).
bool resolve_ipv4(const std::string& host, int port, sockaddr_in& out) {
  if (uv_ip4_addr(host.c_str(), port, &out) == 0) return true;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return false;
  std::memcpy(&out, res->ai_addr, sizeof out);
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  freeaddrinfo(res);
  return true;
}

bool parse_endpoint(std::string_view url, Endpoint& out) {
  constexpr std::string_view scheme = "ws://";
  constexpr std::string_view tls_scheme = "wss://";
  if (url.substr(0, tls_scheme.size()) == tls_scheme) {
    out.tls = true;
    url.remove_prefix(tls_scheme.size());
  } else if (url.substr(0, scheme.size()) == scheme) {
    url.remove_prefix(scheme.size());
  } else {
    return false;
  }
  const std::size_t slash = url.find('/');
  const std::string_view hostport = url.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const std::size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string host(hostport.substr(0, colon));
  const std::string_view port_text = hostport.substr(colon + 1);
  int port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) return false;
  if (!resolve_ipv4(host, port, out.addr)) return false;
  out.host = host;
  out.host_header = std::string(hostport);
  return true;
}

bool parse_sources(std::string_view list, std::vector<sockaddr_in>& out) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string one(list.substr(0, comma));
    sockaddr_in a{};
    if (uv_ip4_addr(one.c_str(), 0, &a) != 0) return false;
    out.push_back(a);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return !out.empty();
}

template <class T>
bool parse_number(const char* text, T& out, T lo, T hi) {
  const std::string_view s(text);
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool parse_seconds(const char* text, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= 0) || v > kMaxSeconds) return false;
  out = v;
  return true;
}

bool parse_rate(const char* text, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= 0) || v > 1e7) return false;
  out = v;
  return true;
}

// "Name: value": a token, a colon, a value without CR/LF.
bool parse_header(std::string_view h, std::string& out) {
  const std::size_t colon = h.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    const unsigned char c = static_cast<unsigned char>(h[i]);
    if (c <= ' ' || c >= 0x7f ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  }
  if (h.find_first_of("\r\n") != std::string_view::npos) return false;
  out.append(h);
  out += "\r\n";
  return true;
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  auto bad = [](const std::string& why) {
    std::fprintf(stderr, "wsgate-bench-client: %s\n%s", why.c_str(), kUsage);
    return std::nullopt;
  };
  if (argc < 2) return bad("no mode");
  const std::string_view mode = argv[1];
  if (mode == "echo") o.mode = Mode::kEcho;
  else if (mode == "handshake") o.mode = Mode::kHandshake;
  else if (mode == "idle") o.mode = Mode::kIdle;
  else if (mode == "subscribe") o.mode = Mode::kSubscribe;
  else return bad("unknown mode " + std::string(mode));
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--insecure" || a == "--resume") {  // the flags without a value
      (a == "--insecure" ? o.insecure : o.resume) = true;
      continue;
    }
    if (i + 1 >= argc) return bad("missing value for " + std::string(a));
    const char* v = argv[++i];
    bool ok = true;
    if (a == "--url") {
      Endpoint e;
      ok = parse_endpoint(v, e);
      if (ok) o.targets.push_back(e);
    } else if (a == "--source") ok = parse_sources(v, o.sources);
    else if (a == "--connections") ok = parse_number<std::uint32_t>(v, o.connections, 1, kMaxConnections);
    else if (a == "--inflight") ok = parse_number<std::uint32_t>(v, o.inflight, 1, kMaxInflight);
    else if (a == "--size") ok = parse_number<std::size_t>(v, o.size, kTagSize, kMaxSize);
    else if (a == "--duration") ok = parse_seconds(v, o.duration);
    else if (a == "--warmup") ok = parse_seconds(v, o.warmup);
    else if (a == "--max-messages") ok = parse_number<std::uint64_t>(v, o.max_messages, 1, 10'000'000'000ULL);
    else if (a == "--sessions") ok = parse_number<std::uint32_t>(v, o.sessions, 1, kMaxSessions);
    else if (a == "--concurrency") ok = parse_number<std::uint32_t>(v, o.concurrency, 1, kMaxConnections);
    else if (a == "--hold") ok = parse_seconds(v, o.hold);
    else if (a == "--timeout") ok = parse_seconds(v, o.timeout);
    else if (a == "--connect-rate") ok = parse_rate(v, o.connect_rate);
    else if (a == "--wait-go") ok = parse_seconds(v, o.wait_go);
    else if (a == "--header") ok = parse_header(v, o.headers);
    else if (a == "--ca-file") {
      o.ca_file = v;
      ok = !o.ca_file.empty();
    } else if (a == "--tls-version") {
      const std::string_view t = v;
      o.tls_version = t == "1.2" ? 12 : t == "1.3" ? 13 : 0;
      ok = o.tls_version != 0;
    }
    else return bad("unknown option " + std::string(a));
    if (!ok) return bad("bad value for " + std::string(a) + ": " + v);
  }
  if (o.targets.empty()) return bad("no --url");
  bool any_tls = false;
  for (const Endpoint& e : o.targets) any_tls = any_tls || e.tls;
  if (any_tls && o.ca_file.empty() && !o.insecure) return bad("a wss:// URL needs --ca-file FILE or --insecure");
  return o;
}

}  // namespace wsgate::bench
