// The cluster link, one master at a time (server/cluster/cluster_link.h). On a Redis Cluster the
// loss of one master (killed, partitioned, failing over) concerns only the rooms whose slot it
// serves: their publishes get "cluster unavailable", their subscriptions and pending acks go as
// after a Redis outage, while the rooms of the other masters keep ordering, fanning out and
// acknowledging. The map is then read again (from a master still connected) until a replica has
// taken over; the new master is connected and only the rooms whose master changed (or was lost)
// are subscribed again and resynced from their last delivered id. A MOVED (resharding) or a shard
// subscription dropped by Redis takes the same path. One Redis (redis://): a lost connection is
// the whole link down (go_down), as before.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

constexpr int64_t kGraceMs = 3500;  // liveness keys on the lost master may have expired meanwhile
// Reading the map costs one CLUSTER SLOTS on a live connection; a failover takes about
// --cluster-node-timeout plus a second, so a retry every 100 ms doubling to 400 ms finds it soon.
constexpr int64_t kMaxRefreshBackoffMs = 400;
constexpr int64_t kMinRefreshGapMs = 100;

}  // namespace

void ClusterLink::lose(size_t node, const char* where) {
  if (!router_.cluster()) {
    go_down(where);
    return;
  }
  master_down(node, where);
}

void ClusterLink::master_down(size_t node, const char* where) {
  if (!up_ || !router_.up(node)) return;
  std::string err = router_.error();
  if (router_.cmd(node)->err) err = router_.cmd(node)->errstr;
  if (router_.sub(node)->err) err = router_.sub(node)->errstr;
  LOG_ERROR("cluster_master_down", "master=%s where=%s error=\"%s\" action=\"its rooms refused\"",
            router_.address(node).text().c_str(), where, err.c_str());
  router_.drop(node, core::mono_millis());
  // Its confirmations of our own SUNSUBSCRIBEs will not come now.
  std::erase_if(own_unsubscribes_, [node](const auto& e) { return e.first.first == node; });
  if (!router_.any_up()) {
    go_down(where);
    return;
  }
  for (auto& [name, room] : rooms_) {
    if (room.master != node) continue;
    if (room.wanted && room.last_delivered < 0) {
      // Its first sync will not come soon: the joins waiting for it go ahead, local-only.
      to_owner(name, ClusterRoomSynced{name, false, 0, {}});
    }
    forget_subscription(room);
  }
  if (control_node_ == node) {
    control_node_ = kNoMaster;
    subscribe_control();  // on a master still up, at once: disconnects and loss notices go on
  }
  schedule_refresh();
}

// The room's subscription is gone (its master lost, or its slot moved): as in go_down, what
// waited for a delivery here gets an error (an ok could otherwise precede its message); the
// resync reads the rest from the stream.
void ClusterLink::forget_subscription(Room& room) {
  room.subscribed = false;
  room.master = kNoMaster;
  room.pending.clear();
  room.gap_since_ms = 0;
  fail_acks(room);
}

void ClusterLink::abandon_sync(const std::string& name, Room& room) {
  LOG_WARN("cluster_sync_failed", "room=%s", name.c_str());
  if (!router_.cluster()) return go_down("sync read failed");
  forget_subscription(room);
  schedule_refresh();
}

// At once, but not more often than every kMinRefreshGapMs: a map read whose own commands meet
// a MOVED or CLUSTERDOWN again (the cluster still settling) must not spin the link.
void ClusterLink::schedule_refresh() {
  if (!router_.cluster()) return;
  if (!refresh_due_)
    refresh_at_ms_ = std::max(core::mono_millis(), last_refresh_ms_ + kMinRefreshGapMs);
  refresh_due_ = true;
}

void ClusterLink::size_per_master() {
  size_t n = router_.size();
  unconfirmed_.resize(std::max(unconfirmed_.size(), n));
  wait_due_.resize(std::max(wait_due_.size(), n), false);
  no_replica_until_ms_.resize(std::max(no_replica_until_ms_.size(), n), 0);
}

void ClusterLink::refresh_map(int64_t now) {
  last_refresh_ms_ = now;
  std::vector<bool> was_up;
  for (size_t n = 0; n < router_.size(); ++n) was_up.push_back(router_.up(n));
  bool whole = router_.refresh(now);
  size_per_master();
  bool changed = router_.size() != was_up.size();
  for (size_t n = 0; n < was_up.size(); ++n) {
    if (was_up[n] && !router_.up(n)) {
      changed = true;  // no longer a master (a replica now): as if lost
      for (auto& [name, room] : rooms_) {
        if (room.master == n) forget_subscription(room);
      }
      if (control_node_ == n) control_node_ = kNoMaster;
    }
    if (!was_up[n] && router_.up(n)) changed = true;
  }
  if (whole) {
    refresh_due_ = false;
    refresh_backoff_ms_ = 100;
  } else {
    refresh_at_ms_ = now + refresh_backoff_ms_;
    refresh_backoff_ms_ = std::min(refresh_backoff_ms_ * 2, kMaxRefreshBackoffMs);
    if (!changed) return;
  }
  after_refresh(now);
}

// A new master (the promoted replica) gets the script; this node's liveness key and presence are
// written again (writes to the lost master, or refused with CLUSTERDOWN while the cluster was
// failing over, are gone); then the rooms whose master changed are subscribed again.
void ClusterLink::after_refresh(int64_t now) {
  script_sha_.clear();  // loaded on every master next turn (the promoted one has none)
  grace_until_ms_ = std::max(grace_until_ms_, now + kGraceMs);
  place_canaries(now);
  if (!up_) return;
  append({"SET", keys_.node(node_), "1", "PX", std::to_string(kLivenessTtlMs)});
  republish_own_presence();
  flush_pipeline();
  if (!up_) return;
  if (control_node_ == kNoMaster) subscribe_control();
  size_t moved = resubscribe_moved();
  flush_subscriptions();
  LOG_INFO("cluster_map_refreshed", "masters=\"%s\" rooms_resubscribed=%zu",
           router_.masters_text().c_str(), moved);
}

size_t ClusterLink::resubscribe_moved() {
  size_t moved = 0;
  for (auto& [name, room] : rooms_) {
    if (!room.wanted) continue;
    size_t master = router_.node_of(keys_.channel(name));
    if (room.master == master && router_.up(master)) continue;  // still where it was: untouched
    if (room.master != kNoMaster && router_.up(room.master)) {
      ++own_unsubscribes_[{room.master, name}];
      cluster::append_argv(router_.sub(room.master), {"SUNSUBSCRIBE", keys_.channel(name)});
    }
    forget_subscription(room);
    subscribe(name, true);
    ++moved;
  }
  return moved;
}

// The node-wide control channel (the server API's disconnect, data loss notices): plain pub/sub,
// which a Redis Cluster broadcasts to every node, so any live master's connection will do.
void ClusterLink::subscribe_control() {
  for (size_t n = 0; n < router_.size(); ++n) {
    if (!router_.up(n)) continue;
    cluster::append_argv(router_.sub(n), {"SUBSCRIBE", std::string(cluster::kControlChannel)});
    sub_dirty_ = true;
    control_node_ = n;
    return;
  }
}

}  // namespace rtchat::server
