// Limits on joins, beside the push rate limit. Every join sends a presence meta to every member
// of the room (and its leave another), so a client that leaves and rejoins as fast as the push
// limit allows turns 20 frames/s into 20 presence diffs/s for the whole room. Two budgets:
// - per connection and topic, on the connection's shard: refused at once, counted as a strike;
// - per user and room, on the room's owner: a fresh socket brings no fresh budget, so
//   reconnecting to rejoin does not get around the first.
// Leaves are not limited: each follows one accepted join (a leave of a topic without a channel
// sends nothing to the room), and refusing one would strand a client that believes it left.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtchat::server {

// One token bucket per key, each kept as a single time (GCRA): full_at is when the key's bucket
// is full again. A take is allowed while full_at - now <= (burst - 1) * every_ms, and moves
// full_at one interval later; a key whose bucket is full is the same as no key, and is pruned.
// Shard-local: used by one thread.
class KeyedRateLimit {
 public:
  // max_keys > 0: takes for new keys are refused while that many keys are tracked (the
  // caller's memory stays bounded whatever the caller's own rate allows).
  KeyedRateLimit(int64_t burst, int64_t every_ms, size_t max_keys = 0)
      : tolerance_ms_((burst - 1) * every_ms), every_ms_(every_ms), max_keys_(max_keys) {}

  // True when a take for key at now_ms is within the limit (and counts it).
  [[nodiscard]] bool try_take(std::string_view key, int64_t now_ms) {
    auto it = full_at_ms_.find(key);
    if (it == full_at_ms_.end()) {
      if (!make_room(now_ms)) return false;
      full_at_ms_.emplace(std::string(key), now_ms + every_ms_);
      return true;
    }
    return take(it->second, now_ms);
  }

  // The same rule on a bucket the caller keeps itself (full_at_ms 0: a full bucket), for a key
  // whose bucket lives elsewhere while the key is active (RoomOwner: in the user's records).
  [[nodiscard]] bool take(int64_t& full_at_ms, int64_t now_ms) const {
    const int64_t full_at = std::max(full_at_ms, now_ms);
    if (full_at - now_ms > tolerance_ms_) return false;
    full_at_ms = full_at + every_ms_;
    return true;
  }
  // Moves key's bucket out of the table: its full_at (0: none, a full bucket).
  [[nodiscard]] int64_t take_out(std::string_view key) {
    auto it = full_at_ms_.find(key);
    if (it == full_at_ms_.end()) return 0;
    const int64_t full_at = it->second;
    full_at_ms_.erase(it);
    return full_at;
  }
  // Puts a bucket kept elsewhere back into the table; a full one (full_at_ms <= now_ms) is the
  // same as none and is not kept, nor is one past max_keys (looser, never stricter).
  void put_back(std::string_view key, int64_t full_at_ms, int64_t now_ms) {
    if (full_at_ms <= now_ms || !make_room(now_ms)) return;
    full_at_ms_.insert_or_assign(std::string(key), full_at_ms);
  }
  [[nodiscard]] int64_t full_at(std::string_view key) const {
    auto it = full_at_ms_.find(key);
    return it == full_at_ms_.end() ? 0 : it->second;
  }

  [[nodiscard]] size_t tracked_keys() const { return full_at_ms_.size(); }
  [[nodiscard]] bool tracks(std::string_view key) const { return full_at_ms_.contains(key); }

  // Forgets the keys whose bucket is full again at now_ms (the same as no key). With none left,
  // the table itself goes too: an idle connection or room then holds no heap for its limits (an
  // erased unordered_map keeps its bucket array; a fresh one allocates nothing).
  void prune(int64_t now_ms) {
    if (full_at_ms_.empty()) return;
    std::erase_if(full_at_ms_, [&](const auto& e) { return e.second <= now_ms; });
    if (full_at_ms_.empty()) {
      decltype(full_at_ms_)().swap(full_at_ms_);
      prune_at_ = kMinPruneAt;
    }
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMinPruneAt = 16;

  // Before a new key: pruning is amortised, only when the map has doubled since the last prune.
  // False when max_keys are tracked even after pruning.
  bool make_room(int64_t now_ms) {
    if (full_at_ms_.size() >= prune_at_ || (max_keys_ && full_at_ms_.size() >= max_keys_)) {
      std::erase_if(full_at_ms_, [&](const auto& e) { return e.second <= now_ms; });
      prune_at_ = std::max(kMinPruneAt, 2 * full_at_ms_.size());
    }
    return !max_keys_ || full_at_ms_.size() < max_keys_;
  }

  int64_t tolerance_ms_;
  int64_t every_ms_;
  size_t max_keys_;
  size_t prune_at_ = kMinPruneAt;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> full_at_ms_;
};

// Per connection, per topic: 5 joins at once cover a client's first join and a few quick rejoins
// (phoenix.js rejoins after an error; a UI switching back and forth between rooms). Then one
// every 2 s: phoenix.js's own rejoin backoff (1 s, 2 s, 5 s, 10 s) is already about that slow,
// and it is a tenth of the push rate.
inline constexpr int64_t kTopicJoinBurst = 5;
inline constexpr int64_t kTopicJoinEveryMs = 2000;
// Topics tracked per connection. An entry lives at most burst * interval (10 s) after its last
// join, so the push rate keeps real clients far below this.
inline constexpr size_t kMaxTrackedTopics = 256;

// One connection's per-topic join budgets (kTopicJoinBurst, kTopicJoinEveryMs, GCRA as above):
// the first kInline topics inline, keyed by a 64-bit hash of the topic, more in a KeyedRateLimit
// made on demand (at most kMaxTrackedTopics in all). A socket that joins a room or two allocates
// nothing: a table per socket was three small heap blocks made during a join storm and freed by
// the sweep seconds later, which left holes between the long-lived blocks (~4 MB of free
// 49-112-byte chunks per 10,000 sockets, resident). Two topics sharing a hash would share a
// budget: stricter, never looser.
class TopicJoinBudgets {
 public:
  [[nodiscard]] bool try_take(std::string_view topic, int64_t now_ms) {
    const uint64_t hash = std::hash<std::string_view>{}(topic) | 1;  // 0 marks a free slot
    for (Slot& s : slots_) {
      if (s.hash == hash && s.full_at_ms > now_ms) return take(s.full_at_ms, now_ms);
    }
    if (more_ && more_->tracks(topic)) return more_->try_take(topic, now_ms);
    for (Slot& s : slots_) {
      if (s.full_at_ms <= now_ms) {  // a full bucket is the same as none
        s = Slot{hash, now_ms + kTopicJoinEveryMs};
        return true;
      }
    }
    if (!more_) {
      more_ = std::make_unique<KeyedRateLimit>(kTopicJoinBurst, kTopicJoinEveryMs,
                                               kMaxTrackedTopics - kInline);
    }
    return more_->try_take(topic, now_ms);
  }
  // Drops the table of extra topics once none of them is tracked any more.
  void prune(int64_t now_ms) {
    if (!more_) return;
    more_->prune(now_ms);
    if (more_->tracked_keys() == 0) more_.reset();
  }
  [[nodiscard]] bool has_table() const { return more_ != nullptr; }

 private:
  static constexpr size_t kInline = 2;
  static constexpr int64_t kToleranceMs = (kTopicJoinBurst - 1) * kTopicJoinEveryMs;
  struct Slot {
    uint64_t hash = 0;
    int64_t full_at_ms = 0;  // <= now: the slot is free
  };
  static bool take(int64_t& full_at_ms, int64_t now_ms) {
    const int64_t full_at = std::max(full_at_ms, now_ms);
    if (full_at - now_ms > kToleranceMs) return false;
    full_at_ms = full_at + kTopicJoinEveryMs;
    return true;
  }

  std::array<Slot, kInline> slots_{};
  std::unique_ptr<KeyedRateLimit> more_;
};

// Per room, per user (on the owner): 16 at once lets all of a user's sessions (at most
// kMaxSessionsPerUserInRoom, 8) rejoin twice in a row, after a restart or a network change.
// Then one per second across all of the user's sockets.
inline constexpr int64_t kUserJoinBurst = 16;
inline constexpr int64_t kUserJoinEveryMs = 1000;

}  // namespace rtchat::server
