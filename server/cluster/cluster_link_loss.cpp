// The cluster link when Redis loses data (server/cluster/cluster_link.h): FLUSHALL, a restore from
// an older snapshot, a failover that dropped writes. A room's sequence that went back would hand
// out ids again that clients already have. Two defences:
// - every sync (first subscribe, resync after a reconnect) raises the room's sequence to what
//   this node delivered (raise_sequence);
// - a canary key per master, set when the link connects and checked with every heartbeat (1 s):
//   gone means that master lost its data while the link stayed connected. The link then raises
//   the sequence of every room it has on that master to its last delivered id, and holds off
//   declaring nodes dead for the grace period (their liveness keys went with the data; they
//   write them again on their next beat).
// Bound: a node that joins a room after the loss and publishes before any node that delivered in
// it has noticed (<= 1 s) can still get a low id; docs/cluster.md says so.
#include <hiredis/hiredis.h>

#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/redis_reply.h"
#include "server/cluster/slot_map.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

// A canary is refreshed with every heartbeat; the TTL only removes the canaries of nodes that
// are gone (a crashed process leaves them behind; a graceful stop deletes them).
constexpr const char* kCanaryTtlMs = "3600000";

// KEYS: seq. ARGV: floor. A sequence below the floor is raised to it; returns the (raised) last
// id. Creates nothing for a new room (floor 0).
constexpr const char* kRaiseScript = R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return cur
)lua";

}  // namespace

ClusterLink::ReplyPtr ClusterLink::raise_sequence(const std::string& room, int64_t floor) {
  return command({"EVAL", kRaiseScript, "1", keys_.seq(room), std::to_string(floor)});
}

// One key per master and node (each node must see the loss itself: a key shared by the nodes
// would be set again by the first that noticed). On a Redis Cluster the key's tag is the first
// decimal whose slot that master serves.
void ClusterLink::place_canaries() {
  canaries_.assign(router_.size(), "rtchat:canary:" + node_);
  for (size_t n = 0; router_.cluster() && n < router_.size(); ++n) {
    for (int i = 0; i < cluster::kSlotCount * 8; ++i) {
      std::string key = "rtchat:canary:{" + std::to_string(i) + "}:" + node_;
      if (router_.node_of(key) != n) continue;
      canaries_[n] = std::move(key);
      break;
    }
  }
  for (const auto& key : canaries_) append({"SET", key, "1", "PX", kCanaryTtlMs});
}

void ClusterLink::check_canaries(int64_t now) {
  bool lost = false;
  for (size_t n = 0; up_ && n < canaries_.size(); ++n) {
    ReplyPtr r = command_on(n, {"SET", canaries_[n], "1", "PX", kCanaryTtlMs, "GET"});
    if (!r || r->type != REDIS_REPLY_NIL) continue;
    LOG_WARN("cluster_data_lost", "master=%s action=\"raise room sequences, grace for liveness\"",
             router_.address(n).text().c_str());
    grace_until_ms_ = now + kDataLossGraceMs;
    restore_floors(n);
    lost = true;
  }
  if (!lost || !up_) return;
  // This node's presence hashes and liveness key may have gone with the data (the heartbeat only
  // sees the master of its own key): written again, idempotently, as after a reconnect.
  append({"SET", keys_.node(node_), "1", "PX", std::to_string(kLivenessTtlMs)});
  republish_own_presence();
  flush_pipeline();
}

void ClusterLink::restore_floors(size_t node) {
  size_t raised = 0;
  for (auto& [name, room] : rooms_) {
    if (!up_) return;
    if (!room.wanted || room.last_delivered <= 0) continue;
    if (router_.node_of(keys_.seq(name)) != node) continue;
    ReplyPtr r = raise_sequence(name, room.last_delivered);
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == room.last_delivered) ++raised;
  }
  LOG_INFO("cluster_floors_restored", "rooms=%zu", raised);
}

}  // namespace rtchat::server
