#include "loadtest/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

#include "loadtest/decimal_text.h"

namespace rtchat::loadtest {

int LatencyHistogram::bucket_index(uint64_t value) {
  constexpr uint64_t kClamp = (uint64_t{1} << kMaxBits) - 1;
  value = std::min(value, kClamp);
  if (value < kSubBuckets) return static_cast<int>(value);
  // Values in [2^e, 2^(e+1)) keep their top kSubBucketBits+1 bits; the leading one is implied.
  const int e = std::bit_width(value) - 1;
  const int shift = e - kSubBucketBits;
  const auto sub = static_cast<int>((value >> shift) & (kSubBuckets - 1));
  return (shift + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::bucket_upper(int index) {
  if (index < kSubBuckets) return static_cast<uint64_t>(index);
  const int shift = index / kSubBuckets - 1;
  const auto sub = static_cast<uint64_t>(index % kSubBuckets);
  const uint64_t lower = (uint64_t{kSubBuckets} + sub) << shift;
  return lower + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::record(uint64_t value_ns) {
  ++counts_[static_cast<size_t>(bucket_index(value_ns))];
  ++count_;
  sum_ += value_ns;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() { *this = LatencyHistogram{}; }

uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The smallest value v such that at least ceil(q * count) samples are <= v.
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_upper(static_cast<int>(i)), min_, max_);
  }
  return max_;
}

namespace {}  // namespace

void LatencyHistogram::serialize(std::string& out) const {
  size_t nonzero = 0;
  for (uint64_t c : counts_) nonzero += c != 0;
  append_u64(out, count_);
  out += ' ';
  append_u64(out, min_);
  out += ' ';
  append_u64(out, max_);
  out += ' ';
  append_u64(out, sum_);
  out += ' ';
  append_u64(out, nonzero);
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    out += ' ';
    append_u64(out, i);
    out += ':';
    append_u64(out, counts_[i]);
  }
}

bool LatencyHistogram::deserialize(std::string_view text) {
  LatencyHistogram h;
  uint64_t nonzero = 0;
  if (!read_u64(text, h.count_) || !read_u64(text, h.min_) || !read_u64(text, h.max_) ||
      !read_u64(text, h.sum_) || !read_u64(text, nonzero) || nonzero > h.counts_.size()) {
    return false;
  }
  uint64_t total = 0;
  for (uint64_t k = 0; k < nonzero; ++k) {
    uint64_t idx = 0;
    uint64_t cnt = 0;
    if (!read_u64(text, idx) || text.empty() || text.front() != ':') return false;
    text.remove_prefix(1);
    if (!read_u64(text, cnt) || idx >= h.counts_.size()) return false;
    h.counts_[idx] += cnt;
    total += cnt;
  }
  if (total != h.count_) return false;
  *this = h;
  return true;
}

}  // namespace rtchat::loadtest
