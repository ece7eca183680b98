// The `streams:` section: fan-out streams, each one upstream
// connection per channel held by the feeder and copied to every subscriber.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>

#include "conf/loader_fields.h"

namespace wsgate::conf::detail {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

// Sized for the shared-memory channel table and its rings.
constexpr size_t kMaxStreams = 32;
constexpr uint64_t kMaxChannelsTotal = 256;
constexpr uint64_t kMaxRingsTotal = 4 * GiB;
constexpr uint32_t kMaxChannels = 256;  // of one per_path stream
constexpr size_t kMaxSources = 16;
constexpr size_t kMaxMessages = 64;  // on_connect_send
constexpr size_t kMaxMessageSize = 64 * KiB;

// Left in on_connect_send for the feeder, which puts in the channel path.
constexpr std::string_view kFeederVariable = "path";

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// ---------------------------------------------------------------- sources

// A DNS name as a URL may carry it: labels of letters, digits and '-',
// separated by dots, at most 253 characters.
bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.front() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
  });
}

// "ws[s]://host[:port][/path][?query]". The host is numeric or a name; a
// name (localhost too) is resolved by the feeder at every (re)connect, never
// blocking its loop. The port defaults to 80 (443 for wss) and the path to
// "/"; the Host header is the authority as written.
SourceUrl read_source(const Field& f) {
  const std::string expected = "a URL like ws://127.0.0.1:9100/live or wss://feed.example.com/live";
  const std::string text = read_scalar(f, expected);
  const bool tls = starts_with_nocase(text, "wss://");
  if (!tls && !starts_with_nocase(text, "ws://")) {
    f.fail("expected " + expected + ", got " + quote(text));
  }
  if (has_space_or_control(text)) {
    f.fail("a source URL cannot contain whitespace, got " + quote(text));
  }
  if (text.find('#') != std::string::npos) {
    f.fail("a source URL cannot contain '#', got " + quote(text));
  }
  const std::string_view rest = std::string_view(text).substr(tls ? 6 : 5);
  const size_t end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end);
  if (authority.empty()) {
    f.fail("missing host in " + quote(text));
  }
  if (authority.find('@') != std::string_view::npos) {
    f.fail("a source URL cannot carry a user name or password");  // not quoted: a secret
  }
  // A query right after the authority gets the root path in front of it.
  std::string path = "/";
  if (end != std::string_view::npos) {
    const std::string_view tail = rest.substr(end);
    if (tail.front() != '?') {
      path.clear();
    }
    path.append(tail);
  }
  const bool has_port = authority.front() == '[' ? authority.find("]:") != std::string_view::npos
                                                 : authority.find(':') != std::string_view::npos;
  const std::string with_port = std::string(authority) + (has_port ? "" : tls ? ":443" : ":80");
  SourceUrl source{text, {}, {}, std::string(authority), path, tls};
  std::string why;
  const size_t colon = with_port.rfind(':');
  const std::string host = with_port.substr(0, colon);
  const bool numeric = host.front() == '[' || std::none_of(host.begin(), host.end(), [](char c) {
                         return std::isalpha(static_cast<unsigned char>(c)) != 0;
                       });
  if (numeric) {
    const auto endpoint = parse_endpoint(with_port, &why);
    if (!endpoint) {
      f.fail("invalid host " + quote(authority) + " in " + quote(text) + ": " + why);
    }
    source.endpoint = *endpoint;
    return source;
  }
  if (!valid_host_name(host)) {
    f.fail("invalid host name " + quote(host) + " in " + quote(text));
  }
  // The port through the same parser as any endpoint's.
  const auto port_only = parse_endpoint("127.0.0.1" + with_port.substr(colon), &why);
  if (!port_only) {
    f.fail("invalid port in " + quote(text) + ": " + why);
  }
  source.name = host;
  std::transform(source.name.begin(), source.name.end(), source.name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  source.endpoint.port = port_only->port;
  return source;
}

// One URL may be written bare; several as a list, tried in order.
std::vector<SourceUrl> read_sources(const Field& f) {
  const std::vector<Field> items = f.node.IsSequence() ? list_items(f, "a list of ws:// URLs") : std::vector<Field>{f};
  if (items.empty()) {
    f.fail("expected at least one URL like ws://127.0.0.1:9100/live");
  }
  std::vector<SourceUrl> sources;
  for (const Field& item : items) {
    if (sources.size() == kMaxSources) {
      item.fail("more than " + std::to_string(kMaxSources) + " sources");
    }
    SourceUrl source = read_source(item);
    const auto earlier =
        std::find_if(sources.begin(), sources.end(), [&](const SourceUrl& s) { return s.text == source.text; });
    if (earlier != sources.end()) {
      item.fail(quote(source.text) + " is already listed as " + f.key + "[" +
                std::to_string(earlier - sources.begin()) + "]");
    }
    sources.push_back(std::move(source));
  }
  return sources;
}

// ---------------------------------------------------------------- on_connect_send

bool valid_variable_name(std::string_view name) {
  return !name.empty() && std::isdigit(static_cast<unsigned char>(name.front())) == 0 &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

// ${NAME} becomes the environment's NAME; ${path} stays for the feeder
// (in a message, not in a header: `keep_path`). Once expanded, a message
// usually holds a secret (an API key), so no message here ever quotes the
// text: positions and variable names only.
std::string expand_environment(const Field& f, const std::string& text, bool keep_path = true) {
  std::string out;
  size_t pos = 0;
  for (size_t open; (open = text.find("${", pos)) != std::string::npos;) {
    out.append(text, pos, open - pos);
    const size_t close = text.find('}', open + 2);
    if (close == std::string::npos) {
      f.fail("the \"${\" at offset " + std::to_string(open) + " has no closing '}'");
    }
    const std::string name = text.substr(open + 2, close - open - 2);
    if (!valid_variable_name(name)) {
      f.fail("the \"${\" at offset " + std::to_string(open) +
             " is not followed by a variable name from A-Z a-z 0-9 _ and '}'");
    }
    if (keep_path && name == kFeederVariable) {
      out.append(text, open, close + 1 - open);
    } else {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        f.fail("environment variable " + name + " is not set");
      }
      out += value;
    }
    pos = close + 1;
  }
  out.append(text, pos);
  if (out.size() > kMaxMessageSize) {
    f.fail("a message may be at most " + format_size(kMaxMessageSize) + ", this one is " + std::to_string(out.size()) +
           " bytes once expanded");
  }
  return out;
}

// One message may be written bare; several as a list, sent in order.
std::vector<std::string> read_messages(const Field& f) {
  const std::vector<Field> items = f.node.IsSequence() ? list_items(f, "a list of messages") : std::vector<Field>{f};
  std::vector<std::string> messages;
  for (const Field& item : items) {
    if (messages.size() == kMaxMessages) {
      item.fail("more than " + std::to_string(kMaxMessages) + " messages");
    }
    if (!item.node.IsScalar()) {  // read_scalar would quote the text of a scalar
      item.fail("expected a message (a string), got " + describe(item.node));
    }
    messages.push_back(expand_environment(item, item.node.Scalar()));
  }
  return messages;
}

// ---------------------------------------------------------------- enums

ChannelMode read_channel_mode(const Field& f) {
  const std::string text = read_scalar(f, "single or per_path");
  if (text == "single") return ChannelMode::single;
  if (text == "per_path") return ChannelMode::per_path;
  f.fail("expected single or per_path, got " + quote(text));
}

SlowPolicy read_slow_policy(const Field& f) {
  const std::string text = read_scalar(f, "drop_oldest or close");
  if (text == "drop_oldest") return SlowPolicy::drop_oldest;
  if (text == "close") return SlowPolicy::close;
  f.fail("expected drop_oldest or close, got " + quote(text));
}

ClientMessages read_client_messages(const Field& f) {
  const std::string text = read_scalar(f, "drop or close");
  if (text == "drop") return ClientMessages::drop;
  if (text == "close") return ClientMessages::close;
  f.fail("expected drop or close, got " + quote(text));
}

// ---------------------------------------------------------------- upgrade

// tls, headers, origin, subprotocols: how the feeder's upgrade looks.
void read_upstream_keys(const Section& s, Stream& stream) {
  if (auto v = s.find("tls")) {
    const bool any_wss =
        std::any_of(stream.sources.begin(), stream.sources.end(), [](const SourceUrl& u) { return u.tls; });
    if (!any_wss) {
      v->fail("tls: applies to wss:// sources and this stream has none");
    }
    stream.tls = parse_upstream_tls(*v);
  }
  if (auto v = s.find("headers")) {
    stream.headers = parse_upgrade_headers(
        *v, [](const Field& f, const std::string& text) { return expand_environment(f, text, false); });
  }
  if (auto v = s.find("origin")) {
    stream.origin = read_scalar(*v, "an origin like https://app.example.com");
    if (stream.origin.empty() || has_space_or_control(stream.origin)) {
      v->fail("expected an origin like https://app.example.com, got " + quote(stream.origin));
    }
  }
  if (auto v = s.find("subprotocols")) {
    const std::vector<Field> items =
        v->node.IsSequence() ? list_items(*v, "a list of subprotocol names") : std::vector<Field>{*v};
    for (const Field& item : items) {
      std::string name = read_scalar(item, "a subprotocol name like v2.feed");
      if (name.empty() || name.find_first_of(" \t\r\n,;\"()<>@:/[]?={}") != std::string::npos ||
          has_space_or_control(name)) {
        item.fail("expected a subprotocol name (an HTTP token) like v2.feed, got " + quote(name));
      }
      stream.subprotocols.push_back(std::move(name));
    }
  }
}

// ---------------------------------------------------------------- streams

Stream parse_stream(const Entry& entry) {
  if (!valid_name(entry.name)) {
    entry.fail("a stream name must be 1 to 48 characters from A-Z a-z 0-9 _ . -");
  }
  const Section s(entry.value,
                  {"source", "channels", "on_connect_send", "history", "ring", "subscriber_queue", "slow_subscriber",
                   "client_messages", "linger", "always_on", "max_channels", "max_channels_per_ip", "connect_timeout",
                   "backoff_max", "tls", "headers", "origin", "subprotocols"});
  Stream stream;
  stream.name = entry.name;
  stream.sources = read_sources(s.require("source"));
  if (auto v = s.find("channels")) stream.channels = read_channel_mode(*v);
  const bool single = stream.channels == ChannelMode::single;
  if (auto v = s.find("on_connect_send")) stream.on_connect_send = read_messages(*v);
  if (auto v = s.find("history")) stream.history = read_int<uint32_t>(*v, 0, 100000);
  if (auto v = s.find("ring")) stream.ring = read_size(*v, 64 * KiB, GiB);
  if (auto v = s.find("subscriber_queue")) stream.subscriber_queue = read_size(*v, 4 * KiB, GiB);
  if (auto v = s.find("slow_subscriber")) stream.slow_subscriber = read_slow_policy(*v);
  if (auto v = s.find("client_messages")) stream.client_messages = read_client_messages(*v);
  if (auto v = s.find("linger")) stream.linger = read_duration(*v, milliseconds(0), hours(24));
  if (auto v = s.find("always_on")) {
    stream.always_on = read_bool(*v);
    if (stream.always_on && !single) {
      v->fail(
          "always_on needs channels: single; a per_path stream opens a channel when a "
          "client first asks for its path");
    }
  }
  if (single) {
    stream.max_channels = 1;
  }
  if (auto v = s.find("max_channels")) {
    stream.max_channels = read_int<uint32_t>(*v, 1, kMaxChannels);
    if (single && stream.max_channels != 1) {
      v->fail("a single stream has exactly one channel; use channels: per_path for more");
    }
  }
  if (auto v = s.find("max_channels_per_ip")) {
    stream.max_channels_per_ip = read_int<uint32_t>(*v, 1, kMaxChannels);
    if (single) {
      v->fail("max_channels_per_ip bounds the channels of a per_path stream; a single stream has one");
    }
  }
  if (auto v = s.find("connect_timeout")) {
    stream.connect_timeout = read_duration(*v, milliseconds(10), minutes(10));
  }
  if (auto v = s.find("backoff_max")) {
    stream.backoff_max = read_duration(*v, milliseconds(100), hours(1));
  }
  read_upstream_keys(s, stream);
  return stream;
}

}  // namespace

// "streams:" with every stream commented out is a natural edit: no streams.
std::vector<Stream> parse_streams(const Field& f) {
  if (f.node.IsNull()) {
    return {};
  }
  uint64_t channels = 0;  // over all streams, as laid out in shared memory
  uint64_t rings = 0;
  std::vector<Stream> streams;
  for (const Entry& entry : map_entries(f)) {
    if (streams.size() == kMaxStreams) {
      entry.fail("more than " + std::to_string(kMaxStreams) + " streams");
    }
    Stream stream = parse_stream(entry);
    channels += stream.max_channels;
    rings += stream.ring * stream.max_channels;
    if (channels > kMaxChannelsTotal) {
      entry.fail("more than " + std::to_string(kMaxChannelsTotal) +
                 " channels in total over all streams (a single stream counts 1, a per_path "
                 "stream its max_channels)");
    }
    if (rings > kMaxRingsTotal) {
      entry.fail("more than " + format_size(kMaxRingsTotal) + " of rings in total over all streams (ring x channels)");
    }
    streams.push_back(std::move(stream));
  }
  return streams;
}

}  // namespace wsgate::conf::detail
