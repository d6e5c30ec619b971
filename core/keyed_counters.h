// Exact per-key counts shared by all shards (sockets per user id, connections per source
// address). Touched only when a connection opens or closes, never per message, so a mutex is
// cheap here; the keys are split over a few stripes so that shards accepting at the same time
// rarely wait for each other. Every key is counted on its own: one key can never use up
// another's limit (a hashed table of shared buckets could, and a client picks its key).
// Memory is bounded by the number of live acquisitions: a key is erased when its count drops
// to zero.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtchat::core {

class KeyedCounters {
 public:
  // Increments key's count unless it is already at limit (0 = no limit). True when counted;
  // each true must be matched by one release(key). May allocate (a new key): not for the data
  // path.
  [[nodiscard]] bool try_acquire(std::string_view key, uint32_t limit) {
    Stripe& s = stripe_of(key);
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(key);
    if (it == s.counts.end()) {
      s.counts.emplace(std::string(key), 1u);
      return true;
    }
    if (limit != 0 && it->second >= limit) return false;
    ++it->second;
    return true;
  }

  // Gives back one acquisition of key. A key that holds none is left alone (nothing to undo).
  void release(std::string_view key) {
    Stripe& s = stripe_of(key);
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(key);
    if (it == s.counts.end()) return;
    if (--it->second == 0) s.counts.erase(it);
  }

  [[nodiscard]] uint32_t count(std::string_view key) const {
    const Stripe& s = stripes_[stripe_index(key)];
    std::lock_guard lock(s.mutex);
    auto it = s.counts.find(key);
    return it == s.counts.end() ? 0 : it->second;
  }

  // Keys with a non-zero count (for tests and metrics).
  [[nodiscard]] size_t key_count() const {
    size_t n = 0;
    for (const Stripe& s : stripes_) {
      std::lock_guard lock(s.mutex);
      n += s.counts.size();
    }
    return n;
  }

 private:
  // Lets find() take a string_view without building a std::string.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  // 16 stripes: more than the shards of a typical machine accept on at once, few enough to
  // stay a few KiB. alignas keeps each stripe's mutex on its own cache line.
  static constexpr size_t kStripes = 16;
  struct alignas(64) Stripe {
    mutable std::mutex mutex;
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> counts;
  };

  // The stripe only spreads lock contention; a crafted collision costs waiting, never a count.
  static size_t stripe_index(std::string_view key) {
    return (std::hash<std::string_view>{}(key) >> 7) % kStripes;
  }
  Stripe& stripe_of(std::string_view key) { return stripes_[stripe_index(key)]; }

  std::array<Stripe, kStripes> stripes_;
};

}  // namespace rtchat::core
