// The subscribe mode's pure pieces, kept free of I/O so they can be unit
// tested: reading seq and send time out of a feed message, and the per
// subscriber sequence accounting (gaps, duplicates and out-of-order).
//
// Feed messages (tests/support's wsgate-feed-source) are text of the form
//   {"seq":N,"t":T,"path":"P","src":"NAME","pad":"xxx..."}
// with N the channel's sequence number (1, 2, ...) and T the source's
// CLOCK_MONOTONIC in ns when it sent the message. Every subscriber of a
// channel sees the same sequence, so a subscriber that misses seq k saw a gap.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace wsgate::bench {

struct FeedFields {
  std::uint64_t seq = 0;
  std::uint64_t t_ns = 0;
};

// seq and t of a feed message; nullopt unless both are there as unsigned
// integers. Looks only at the first occurrence of each key.
std::optional<FeedFields> parse_feed_fields(std::string_view text);

// Sequence accounting of one subscriber. The first message it sees sets the
// baseline (a subscriber joins a channel mid-stream); after that each seq is
//   next expected  -> in order;
//   larger         -> a gap: the seqs skipped are missing;
//   smaller        -> late: a duplicate or a message out of order (the
//                     expected seq is left where it was).
class SeqTracker {
 public:
  enum class Kind { kFirst, kInOrder, kGap, kLate };
  struct Outcome {
    Kind kind;
    std::uint64_t missing;  // seqs skipped (kGap only)
  };
  Outcome observe(std::uint64_t seq);
  bool started() const { return started_; }
  std::uint64_t last() const { return started_ ? next_ - 1 : 0; }  // highest seq seen

 private:
  std::uint64_t next_ = 0;
  bool started_ = false;
};

// Totals over messages (of one subscriber or many).
struct SeqCounts {
  std::uint64_t messages = 0;
  std::uint64_t missing = 0;     // seqs never delivered (sum of gap sizes)
  std::uint64_t gap_events = 0;  // how many times the sequence jumped
  std::uint64_t late = 0;        // duplicates and out-of-order messages
  void count(const SeqTracker::Outcome& o);
};

}  // namespace wsgate::bench
