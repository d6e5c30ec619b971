// An HDR-style latency histogram: log-bucketed with 128 linear sub-buckets per power of two, so
// every recorded value is kept to within 1/128 (< 1 %, i.e. 2 significant digits) up to 2^40 ns
// (~18 minutes). Fixed size, no allocation after construction, mergeable across workers and
// serializable (sparse) so forked worker processes can ship it through a pipe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::loadtest {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;  // 128 sub-buckets: relative error < 0.8 %
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kMaxBits = 40;  // 2^40 ns ~ 18 min: longer is clamped
  static constexpr int kBucketCount = kSubBuckets * (kMaxBits - kSubBucketBits + 1);

  void record(uint64_t value_ns);
  void merge(const LatencyHistogram& other);
  void reset();

  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] uint64_t max() const { return max_; }
  [[nodiscard]] uint64_t min() const { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] double mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }
  // The value at quantile q in [0, 1] (the bucket's upper edge, clamped to max()); 0 when empty.
  [[nodiscard]] uint64_t percentile(double q) const;

  // Sparse text form "count min max sum n idx:cnt idx:cnt ..." for the worker pipes.
  void serialize(std::string& out) const;
  // False (and the histogram unchanged) when text is not a serialized histogram.
  [[nodiscard]] bool deserialize(std::string_view text);

  // Bucket geometry, public for the unit checks.
  static int bucket_index(uint64_t value);
  static uint64_t bucket_upper(int index);

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace rtchat::loadtest
