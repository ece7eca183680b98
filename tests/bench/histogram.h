// A log-linear latency histogram in the style of HdrHistogram: every power of
// two is split into 128 linear sub-buckets, so any recorded value is known to
// within 1/128 (< 0.8 %) whatever its magnitude, in a fixed 64 KiB table with
// O(1) recording. Values are nanoseconds. The bucket layout is also written out
// (sparse) in the client's JSON so scripts/bench can merge the histograms of
// several client processes and take percentiles of the union; the Python side
// mirrors bucket_low()/bucket_high().
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace wsgate::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per octave
  static constexpr int kSubCount = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSubCount;

  static int index_of(std::uint64_t value);
  // Smallest and largest value that land in bucket `index`.
  static std::uint64_t bucket_low(int index);
  static std::uint64_t bucket_high(int index);

  void record(std::uint64_t value);
  void merge(const Histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at quantile q (0..1): the midpoint of the bucket holding the
  // ceil(q * count)-th smallest value, clamped to the recorded min and max.
  std::uint64_t quantile(double q) const;
  // Non-empty buckets as (index, count), ascending.
  std::vector<std::pair<int, std::uint64_t>> nonzero() const;

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace wsgate::bench
