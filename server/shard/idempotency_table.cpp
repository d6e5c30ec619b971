#include "server/shard/idempotency_table.h"

namespace rtchat::server {

std::string IdempotencyTable::composite(std::string_view room, std::string_view key) {
  std::string k;
  k.reserve(room.size() + 1 + key.size());
  k.append(room);
  k.push_back('\0');  // room ids never hold NUL: "a" + "\0b" cannot collide with "a\0" + "b"
  k.append(key);
  return k;
}

void IdempotencyTable::expire(int64_t now_ms) {
  while (!order_.empty() && (order_.front().second <= now_ms || entries_.size() >= max_entries_ ||
                             order_.size() > 2 * max_entries_)) {
    auto it = entries_.find(order_.front().first);
    // The entry this queue slot stands for (not a newer one under the same key).
    const bool live = it != entries_.end() && it->second.expires_ms == order_.front().second;
    // A pending publish keeps its key until it completes or is abandoned, whatever the room it
    // takes: evicting it would let its retry publish twice. Only its TTL ends it.
    if (live && it->second.id == 0 && order_.front().second > now_ms) break;
    if (live) entries_.erase(it);
    order_.pop_front();
  }
}

IdempotencyTable::Seen IdempotencyTable::begin(std::string_view room, std::string_view key,
                                               int64_t now_ms, int64_t& id) {
  expire(now_ms);
  std::string k = composite(room, key);
  if (auto it = entries_.find(k); it != entries_.end()) {
    id = it->second.id;
    return id == 0 ? Seen::Pending : Seen::Done;
  }
  if (entries_.size() >= max_entries_ || order_.size() > 2 * max_entries_) return Seen::Full;
  const int64_t expires = now_ms + ttl_ms_;
  order_.emplace_back(k, expires);
  entries_.emplace(std::move(k), Entry{0, expires});
  return Seen::New;
}

void IdempotencyTable::complete(std::string_view room, std::string_view key, int64_t id) {
  if (auto it = entries_.find(composite(room, key)); it != entries_.end()) it->second.id = id;
}

void IdempotencyTable::abandon(std::string_view room, std::string_view key) {
  entries_.erase(composite(room, key));
}

}  // namespace rtchat::server
