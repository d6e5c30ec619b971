// The server API's Idempotency-Key memory (docs/protocol.md "Server API"): a retried
// POST /api/rooms/<id>/messages with the same key, for the same room, gets the first publish's id
// instead of a second message. Kept by the room's owner shard, which orders every publish of the
// room, so a retry arriving on any shard finds it.
//
// Shard-local. Bounded twice: entries expire after a TTL, and past max_entries the oldest done
// ones go first (a key is a promise for a while, not forever); a pending one is never evicted. Not
// kept in the room's record, which is dropped as soon as the room is unused (an API-only room is
// unused right after each publish).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtchat::server {

class IdempotencyTable {
 public:
  // 16384 keys x ~100 bytes per shard; 10 minutes covers a backend's retry schedule with backoff.
  static constexpr size_t kDefaultMaxEntries = 16384;
  static constexpr int64_t kDefaultTtlMs = 10 * 60 * 1000;

  explicit IdempotencyTable(size_t max_entries = kDefaultMaxEntries, int64_t ttl_ms = kDefaultTtlMs)
      : max_entries_(max_entries), ttl_ms_(ttl_ms) {}

  enum class Seen : uint8_t {
    New,      // first time: now pending; call complete() or abandon() when the publish ends
    Pending,  // the first request is still being committed (the retry gets 409)
    Done,     // committed: id is the first publish's id
    Full,     // every entry the table may hold is a publish still pending: refuse (503), since
              // evicting a pending key would let its retry publish a second message
  };
  Seen begin(std::string_view room, std::string_view key, int64_t now_ms, int64_t& id);
  void complete(std::string_view room, std::string_view key, int64_t id);
  // The publish failed: the key is forgotten, so a retry publishes again.
  void abandon(std::string_view room, std::string_view key);
  [[nodiscard]] size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int64_t id = 0;  // 0 = pending
    int64_t expires_ms = 0;
  };
  static std::string composite(std::string_view room, std::string_view key);
  void expire(int64_t now_ms);

  size_t max_entries_;
  int64_t ttl_ms_;
  std::unordered_map<std::string, Entry> entries_;
  // Keys in insertion order = expiry order (one TTL for all). A key abandoned and begun again
  // appears twice; the stale copy is skipped by its expiry time.
  std::deque<std::pair<std::string, int64_t>> order_;
};

}  // namespace rtchat::server
