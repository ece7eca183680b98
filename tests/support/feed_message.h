// The feed source's message format, shared by the feed source (which writes
// it), the tests and the benchmark client (which read it). Pure, no I/O.
//
// A message is one text frame of exactly `size` bytes:
//   {"seq":N,"t":T,"path":"P","src":"NAME","pad":"xxxx..."}
// N counts from 1 per channel, T is CLOCK_MONOTONIC in nanoseconds when the
// source sent it (so a reader on the same host can compute the latency), P is
// the channel (the upgrade's request target without the query) and NAME the
// source's --name. "pad" holds 'x' up to `size` bytes; when the rest is
// already longer than `size` the pad is empty and the message is longer.
// No whitespace, fixed field order: a relay must pass it on byte for byte,
// so the parser can be strict and cheap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsgate::test {

inline constexpr std::size_t kMinFeedMessageSize = 64;

struct FeedMessage {
  std::uint64_t seq = 0;
  std::uint64_t t = 0;  // CLOCK_MONOTONIC, ns
  std::string path;
  std::string src;
  bool operator==(const FeedMessage&) const = default;
};

// Formats messages of one channel. The escaped path and name are computed
// once and the buffer is reused, since a source may write a million a second.
class FeedFormatter {
 public:
  FeedFormatter(std::string_view path, std::string_view src, std::size_t size);
  // The message; valid until the next call.
  std::string_view format(std::uint64_t seq, std::uint64_t t);

 private:
  std::string head_;  // ,"path":"P","src":"NAME","pad":"
  std::size_t size_;
  std::string buf_;
};

std::string format_feed_message(const FeedMessage& m, std::size_t size);

// nullopt unless `text` is exactly the format above (any pad length, pad all
// 'x', string escapes as json_escape() writes them and the usual JSON ones).
std::optional<FeedMessage> parse_feed_message(std::string_view text);

// CLOCK_MONOTONIC in nanoseconds: the clock of the "t" field.
std::uint64_t monotonic_ns();

// The inside of a JSON string literal (no quotes). Valid UTF-8 passes
// through; control characters, '"' and '\' are escaped; a byte that is not
// part of valid UTF-8 becomes \u00XX (read back as U+00XX: lossy, but the
// output stays valid JSON whatever a peer sent).
std::string json_escape(std::string_view in);
void append_json_escaped(std::string& out, std::string_view in);

}  // namespace wsgate::test
