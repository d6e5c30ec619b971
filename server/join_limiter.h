// Joins per topic on one connection: a rate limit of its own, slower than --rate. Every join
// sends a presence meta to every member of the room (and its leave another), so a socket that
// leaves and rejoins as fast as the push limit allows turns 20 frames/s into 20 presence
// diffs/s for the whole room. Leaves are not limited: each follows one accepted join (a leave of
// a topic without a channel sends nothing to the room), and refusing one would strand a client
// that believes it left.
//
// Shard-local: one per Connection, used on its shard only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtchat::server {

class JoinLimiter {
 public:
  // 5 joins of a topic at once: a client's first join and a few quick rejoins (phoenix.js
  // rejoins after an error, a UI switching back and forth between rooms) never wait.
  static constexpr int64_t kBurst = 5;
  // Then one every 2 s: faster than phoenix.js's own rejoin backoff (1 s, 2 s, 5 s, 10 s) after
  // the first retry, and a tenth of the push rate.
  static constexpr int64_t kEveryMs = 2000;
  // Topics tracked at once. An entry lives at most kBurst * kEveryMs (10 s) after its last join,
  // so the push rate keeps real clients far below this; past it, joins of new topics are refused
  // until entries expire (the connection's memory stays bounded whatever --rate allows).
  static constexpr size_t kMaxTopics = 256;

  // True when a join of `topic` at now_ms is within the limit (and counts it).
  [[nodiscard]] bool try_join(std::string_view topic, int64_t now_ms) {
    // GCRA, the token bucket as one time per topic: full_at_ms is when the bucket is full again.
    // A join is allowed while the bucket would not overflow, i.e. while full_at - now is at most
    // (kBurst - 1) * kEveryMs; each allowed join moves full_at one interval later.
    constexpr int64_t kTolerance = (kBurst - 1) * kEveryMs;
    Entry* e = find(topic);
    if (!e) {
      // A full bucket and a missing entry mean the same: drop full ones before adding a topic.
      std::erase_if(entries_, [&](const Entry& x) { return x.full_at_ms <= now_ms; });
      if (entries_.size() >= kMaxTopics) return false;
      entries_.push_back(Entry{std::string(topic), now_ms + kEveryMs});
      return true;
    }
    int64_t full_at = e->full_at_ms > now_ms ? e->full_at_ms : now_ms;
    if (full_at - now_ms > kTolerance) return false;
    e->full_at_ms = full_at + kEveryMs;
    return true;
  }

  [[nodiscard]] size_t tracked_topics() const { return entries_.size(); }

 private:
  struct Entry {
    std::string topic;
    int64_t full_at_ms = 0;
  };
  Entry* find(std::string_view topic) {
    for (auto& e : entries_) {
      if (e.topic == topic) return &e;
    }
    return nullptr;
  }
  std::vector<Entry> entries_;  // a socket joins a handful of topics: a vector beats a map
};

}  // namespace rtchat::server
