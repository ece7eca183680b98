#include "tests/bench/feed.h"

#include <charconv>

namespace wsgate::bench {

namespace {

bool number_after(std::string_view text, std::string_view key, std::uint64_t& out) {
  const std::size_t at = text.find(key);
  if (at == std::string_view::npos) return false;
  const char* p = text.data() + at + key.size();
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(p, end, out);
  return ec == std::errc() && stop != p;
}

}  // namespace

std::optional<FeedFields> parse_feed_fields(std::string_view text) {
  FeedFields f;
  if (!number_after(text, "\"seq\":", f.seq) || !number_after(text, "\"t\":", f.t_ns)) return std::nullopt;
  return f;
}

SeqTracker::Outcome SeqTracker::observe(std::uint64_t seq) {
  if (!started_) {
    started_ = true;
    next_ = seq + 1;
    return {Kind::kFirst, 0};
  }
  if (seq == next_) {
    ++next_;
    return {Kind::kInOrder, 0};
  }
  if (seq > next_) {
    const std::uint64_t missing = seq - next_;
    next_ = seq + 1;
    return {Kind::kGap, missing};
  }
  return {Kind::kLate, 0};
}

void SeqCounts::count(const SeqTracker::Outcome& o) {
  ++messages;
  if (o.kind == SeqTracker::Kind::kGap) {
    missing += o.missing;
    ++gap_events;
  } else if (o.kind == SeqTracker::Kind::kLate) {
    ++late;
  }
}

}  // namespace wsgate::bench
