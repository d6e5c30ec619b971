// Redis Cluster's key -> slot -> master mapping, for the hand-written router (cluster_router.h):
// CRC16 key slots with hash tags, the seed list of --cluster redis-cluster://..., the slot map
// read from CLUSTER SLOTS, and MOVED/ASK redirect errors. Pure functions and values, no I/O.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtchat::server::cluster {

inline constexpr int kSlotCount = 16384;

// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
uint16_t crc16(std::string_view data);
// The slot of a key: CRC16 of its hash tag (the text between the first '{' and the next '}', when
// not empty) or of the whole key, modulo 16384.
int key_slot(std::string_view key);

struct RedisAddress {
  std::string host;
  int port = 0;
  bool operator==(const RedisAddress&) const = default;
  std::string text() const { return host + ":" + std::to_string(port); }
};

// "HOST:PORT" (port defaults to 6379). False when malformed.
bool parse_address(std::string_view text, RedisAddress& out);
// "redis-cluster://HOST:PORT[,HOST:PORT...]" -> the seed nodes. False when malformed or empty.
bool parse_cluster_url(std::string_view url, std::vector<RedisAddress>& seeds);

// slot -> master. Filled from CLUSTER SLOTS; a slot nobody serves has no owner.
class SlotMap {
 public:
  SlotMap() : owner_(kSlotCount, -1) {}
  // Reads a CLUSTER SLOTS reply: [[lo, hi, [host, port, id, ...], replicas...], ...]. An empty or
  // "?" host (Redis does not know its own address) is replaced by `fallback_host`, the host the
  // reply came from. False (map unchanged) when the reply is malformed.
  bool load(const redisReply* reply, std::string_view fallback_host);
  // Index into masters() of the slot's owner, -1 when unserved.
  int owner(int slot) const { return slot >= 0 && slot < kSlotCount ? owner_[slot] : -1; }
  const std::vector<RedisAddress>& masters() const { return masters_; }
  // Every slot has an owner (a cluster in failover may have none for some).
  bool complete() const;

 private:
  int index_of(const RedisAddress& a);
  std::vector<RedisAddress> masters_;
  std::vector<int> owner_;
};

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" -> slot and target. False otherwise.
struct Redirect {
  bool ask = false;
  int slot = -1;
  RedisAddress to;
};
bool parse_redirect(std::string_view error, Redirect& out);

}  // namespace rtchat::server::cluster
