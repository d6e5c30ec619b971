// The cluster link when Redis loses data (server/cluster/cluster_link.h): FLUSHALL, a restore from
// an older snapshot, a failover that dropped writes. A room's sequence that went back would hand
// out ids again that clients already have. The defences:
// - every sync (first subscribe, resync after a reconnect) raises the room's sequence to what
//   this node delivered (raise_sequence);
// - a canary key per master and node, set when the link connects and refreshed with every
//   heartbeat (1 s). The publish script checks the publishing node's canary in the same atomic
//   step as the INCR: gone means the master lost its data, and nothing is ordered (no id, no
//   fan-out, no ok: "cluster unavailable") until this node has handled the loss;
// - handling a loss (found by the script, the heartbeat or a reconnect): in one step the canary
//   is written again and a hold key set on that master for kLossHoldMs, during which the publish
//   script refuses every node's publishes there; the link raises the sequence of each of its
//   rooms on that master to its last delivered id, writes its liveness key and presence again,
//   holds off declaring nodes dead (their liveness keys went too), and tells the other nodes on
//   the control channel, so that they check their canaries (and raise their rooms) at once
//   instead of at their next heartbeat. A node new to a room (floor 0) therefore orders its
//   first message only after the nodes that had the room raised its sequence.
// - the same for every room this node's store holds, live here or not (cluster_link_floors.cpp):
//   a room nobody has members in at the loss keeps its ids too.
// Bound: a node whose link does not turn for the whole hold (2 s; a stall of 3 s makes it dead
// to the others) raises its rooms late; docs/cluster.md says so.
#include <hiredis/hiredis.h>

#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
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

// KEYS: canary, hold (one slot). ARGV: canary TTL, hold ms ('0': none). The canary present:
// refreshed, 1. Gone: written again and the hold set, in one step (no publish of any node can
// slip between them), 0.
constexpr const char* kCanaryScript = R"lua(
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'GET') then return 1 end
if ARGV[2] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
return 0
)lua";

}  // namespace

ClusterLink::ReplyPtr ClusterLink::raise_sequence(const std::string& room, int64_t floor) {
  return command({"EVAL", kRaiseScript, "1", keys_.seq(room), std::to_string(floor)});
}

void ClusterLink::append_raise(const std::string& room, int64_t floor) {
  append({"EVAL", kRaiseScript, "1", keys_.seq(room), std::to_string(floor)});
}

// One canary per master and node (each node must see the loss itself: a key shared by the nodes
// would be set again by the first that noticed), one hold key per master. On a Redis Cluster both
// carry the first decimal tag whose slot that master serves, so every node picks the same hold
// key, and the publish script on that master may read them (cluster_link.cpp).
void ClusterLink::place_canaries(int64_t now) {
  canaries_.assign(router_.size(), "rtchat:canary:" + node_);
  holds_.assign(router_.size(), "rtchat:hold");
  for (size_t n = 0; router_.cluster() && n < router_.size(); ++n) {
    for (int i = 0; i < cluster::kSlotCount * 8; ++i) {
      std::string tag(1, '{');
      tag.append(std::to_string(i)).push_back('}');
      if (router_.node_of(tag) != n) continue;
      canaries_[n] = std::string("rtchat:canary:").append(tag).append(":").append(node_);
      holds_[n] = std::string("rtchat:hold:").append(tag);
      break;
    }
  }
  if (connected_once_) {
    check_canaries(now);  // the data may have gone while the link was away
    return;
  }
  // A new process has no canary yet: place them, and ask the others to check theirs now, so that
  // a loss nobody has noticed yet is handled before this node's first publishes.
  for (size_t n = 0; up_ && n < router_.size(); ++n) canary_lost(n, false);
  if (up_) append({"PUBLISH", std::string(cluster::kControlChannel), cluster::loss_payload(node_)});
}

// The canary on `node` written again; true when it was gone (and then, with `hold`, that master's
// publishes held in the same atomic step).
bool ClusterLink::canary_lost(size_t node, bool hold) {
  ReplyPtr r = command_on(node, {"EVAL", kCanaryScript, "2", canaries_[node], holds_[node],
                                 kCanaryTtlMs, hold ? std::to_string(kLossHoldMs) : "0"});
  return r && r->type == REDIS_REPLY_INTEGER && r->integer == 0;
}

void ClusterLink::check_canaries(int64_t now) {
  bool lost = false;
  for (size_t n = 0; up_ && n < canaries_.size(); ++n) {
    if (!canary_lost(n, true)) continue;
    on_data_lost(n, now);
    lost = true;
  }
  if (!lost || !up_) return;
  // This node's presence hashes and liveness key may have gone with the data (the heartbeat only
  // sees the master of its own key): written again, idempotently, as after a reconnect.
  append({"SET", keys_.node(node_), "1", "PX", std::to_string(kLivenessTtlMs)});
  republish_own_presence();
  append({"PUBLISH", std::string(cluster::kControlChannel), cluster::loss_payload(node_)});
  flush_pipeline();
}

void ClusterLink::on_data_lost(size_t node, int64_t now) {
  LOG_WARN("cluster_data_lost",
           "master=%s action=\"hold publishes, raise room sequences, grace for liveness\"",
           router_.address(node).text().c_str());
  grace_until_ms_ = now + kDataLossGraceMs;
  restore_floors(node);
  start_store_floors(node, now);  // and every room the local store knows (no member needed)
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
