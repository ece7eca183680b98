// wsgate-feed-source: a standalone WebSocket server standing in for a
// market-data feed, for fan-out integration tests and benchmarks. Usage:
//   wsgate-feed-source --listen HOST:PORT --name NAME [--rate N] [--size B]
//                      [--count N] [--quiet] [--tls-cert PEM --tls-key PEM]
// Every upgrade joins the channel named by its path and receives that
// channel's numbered messages (feed_message.h) at --rate per second.
// See feed_request.h for the control requests (/_stats, /_drop, ?reject=).
#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/feed_server.h"

namespace {

using wsgate::test::FeedOptions;

constexpr std::uint64_t kMaxRate = 1'000'000;
constexpr std::size_t kMaxSize = 1024 * 1024;  // well under FeedConnection::kMaxBacklog

void usage() {
  std::fprintf(stderr,
               "usage: wsgate-feed-source --listen HOST:PORT --name NAME [--rate N] [--size B]\n"
               "                          [--count N] [--quiet] [--tls-cert PEM --tls-key PEM]\n"
               "  --rate   messages per second per channel, 0..%llu (default 100; 0 = none)\n"
               "  --size   bytes per message, %zu..%zu (default 128)\n"
               "  --count  stop each channel after N messages (default 0 = never)\n"
               "  --tls-cert/--tls-key  serve wss too (a TLS ClientHello picks TLS; plain requests stay plain)\n",
               static_cast<unsigned long long>(kMaxRate), wsgate::test::kMinFeedMessageSize, kMaxSize);
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

std::optional<FeedOptions> parse_args(int argc, char** argv) {
  FeedOptions o;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    bool ok = true;
    if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--listen" && has_value) {
      ok = have_listen = wsgate::test::parse_listen_address(argv[++i], o.listen);
    } else if (a == "--name" && has_value) {
      o.name = argv[++i];
    } else if (a == "--rate" && has_value) {
      ok = parse_number(argv[++i], o.rate) && o.rate <= kMaxRate;
    } else if (a == "--size" && has_value) {
      ok = parse_number(argv[++i], o.size) && o.size >= wsgate::test::kMinFeedMessageSize && o.size <= kMaxSize;
    } else if (a == "--tls-cert" && has_value) {
      o.tls_cert = argv[++i];
    } else if (a == "--tls-key" && has_value) {
      o.tls_key = argv[++i];
    } else if (a == "--count" && has_value) {
      ok = parse_number(argv[++i], o.count);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "wsgate-feed-source: bad argument %s\n", argv[i]);
      return std::nullopt;
    }
  }
  if (!have_listen || o.name.empty() || o.tls_cert.empty() != o.tls_key.empty()) return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error code, not a death
  wsgate::test::raise_fd_limit();
  try {
    wsgate::test::FeedServer server(*options);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate-feed-source[%s]: fatal: %s\n", options->name.c_str(), e.what());
    return 1;
  }
}
