// Per-key counters shared by all shards, indexed by a hash of the key: lock-free, fixed memory,
// touched only when a connection opens or closes (never per message). Two keys that share a
// bucket share a count, so a limit can only be hit early, never passed; with 2^16 buckets and a
// per-user limit that is a rare, conservative error.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace rtchat::core {

class HashedCounters {
 public:
  explicit HashedCounters(size_t buckets_log2 = 16)
      : mask_((size_t{1} << buckets_log2) - 1),
        counts_(std::make_unique<std::atomic<uint32_t>[]>(mask_ + 1)) {}

  // Increments key's count unless it is already at limit (0 = no limit). True when counted.
  [[nodiscard]] bool try_acquire(std::string_view key, uint32_t limit) {
    auto& c = counts_[index(key)];
    uint32_t now = c.load(std::memory_order_relaxed);
    do {
      if (limit != 0 && now >= limit) return false;
    } while (!c.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
    return true;
  }
  void release(std::string_view key) {
    counts_[index(key)].fetch_sub(1, std::memory_order_relaxed);
  }
  [[nodiscard]] uint32_t count(std::string_view key) const {
    return counts_[index(key)].load(std::memory_order_relaxed);
  }

 private:
  [[nodiscard]] size_t index(std::string_view key) const {
    return std::hash<std::string_view>{}(key)&mask_;
  }
  size_t mask_;
  std::unique_ptr<std::atomic<uint32_t>[]> counts_;
};

}  // namespace rtchat::core
