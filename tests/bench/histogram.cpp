#include "tests/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace wsgate::bench {

// Values below 2^kSubBits map to themselves; above, an octave [2^m, 2^(m+1))
// with m >= kSubBits is cut into kSubCount equal buckets of width 2^(m-kSubBits).
int Histogram::index_of(std::uint64_t value) {
  if (value < static_cast<std::uint64_t>(kSubCount)) return static_cast<int>(value);
  const int msb = 63 - std::countl_zero(value);
  const int shift = msb - kSubBits;                   // >= 0
  const auto sub = static_cast<int>(value >> shift);  // in [kSubCount, 2*kSubCount)
  return (shift + 1) * kSubCount + (sub - kSubCount);
}

std::uint64_t Histogram::bucket_low(int index) {
  if (index < 2 * kSubCount) return static_cast<std::uint64_t>(index);
  const int shift = index / kSubCount - 1;
  const auto sub = static_cast<std::uint64_t>(index % kSubCount + kSubCount);
  return sub << shift;
}

std::uint64_t Histogram::bucket_high(int index) {
  if (index < 2 * kSubCount) return static_cast<std::uint64_t>(index);
  const int shift = index / kSubCount - 1;
  const auto sub = static_cast<std::uint64_t>(index % kSubCount + kSubCount);
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t value) {
  ++counts_[static_cast<std::size_t>(index_of(value))];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() { *this = Histogram{}; }

std::uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank >= count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const int idx = static_cast<int>(i);
      const std::uint64_t mid = bucket_low(idx) + (bucket_high(idx) - bucket_low(idx)) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

std::vector<std::pair<int, std::uint64_t>> Histogram::nonzero() const {
  std::vector<std::pair<int, std::uint64_t>> out;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0) out.emplace_back(static_cast<int>(i), counts_[i]);
  return out;
}

}  // namespace wsgate::bench
