// The cluster link's room events: a publish handed to Redis (the ordering script), typing, read
// state and disconnect commands relayed between nodes, and what arrives on a room's channel.
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

constexpr long kStreamMaxLen = 100000;  // per room, approximate (MAXLEN ~): the shared history

}  // namespace

void ClusterLink::on_disconnect(DisconnectUser& d) {
  if (!up_) return;
  append({"PUBLISH", std::string(cluster::kControlChannel),
          cluster::disconnect_payload(node_, d.user_id, d.reason)});
}

// From another node: every shard of this one closes the user's sockets.
void ClusterLink::on_control_payload(std::string_view payload) {
  DisconnectUser d;
  std::string node;
  if (cluster::parse_loss(payload, node)) {
    // Another node found a master's data gone (or just started): check ours now, so that our
    // rooms' sequences are raised while the hold it set keeps the master's publishes refused.
    if (node != node_) canary_check_due_ = true;
    return;
  }
  if (!cluster::parse_disconnect(payload, node, d.user_id, d.reason) || node == node_) return;
  for (auto& o : outboxes_) o->send(DisconnectUser(d));
}

void ClusterLink::on_typing(Typing& t) {
  // Ephemeral: not stored, dropped while Redis is away.
  if (up_) {
    append({publish_verb(), keys_.channel(t.room),
            cluster::typing_payload(node_, t.user_id, t.user_name)});
  }
}

void ClusterLink::on_read_state(ClusterReadState& rs) {
  // Like typing: best effort, dropped while Redis is away (each node keeps its own copy).
  if (up_) {
    append({publish_verb(), keys_.channel(rs.room),
            cluster::read_state_payload(node_, rs.user_id, rs.last_read_id)});
  }
}

// INCR + XADD (+ PUBLISH on one Redis) in one script, pipelined to the room's master.
void ClusterLink::on_publish(ClusterPublish& p) {
  const auto& msg = p.message;
  const size_t master = up_ ? router_.node_of(keys_.seq(msg.room)) : kNoMaster;
  // Redis down, or (Redis Cluster) the room's master lost and not replaced yet, or without a
  // replica a moment ago: refused at once. Other masters' rooms are not concerned.
  if (!up_ || !router_.up(master) ||
      (router_.cluster() && core::mono_millis() < no_replica_until_ms_[master])) {
    to_owner(p.origin.room,
             ClusterPublishDone{std::move(p.origin), false, 0, "cluster unavailable"});
    return;
  }
  size_t node = append(publish_argv(p, master));
  pipeline_.back().kind = Pending::Kind::Publish;
  pipeline_.back().publish = publishes_.size();
  publishes_.push_back(std::move(p));
  if (router_.cluster()) wait_due_[node] = true;
}

// The script's arguments for `master` (its canary and hold keys are that master's).
std::vector<std::string> ClusterLink::publish_argv(const ClusterPublish& p, size_t master) const {
  const auto& msg = p.message;
  // The floor: the owner's last id, or what this link delivered in the room if higher.
  int64_t floor = p.floor_id;
  if (auto it = rooms_.find(msg.room); it != rooms_.end()) {
    floor = std::max(floor, it->second.last_delivered);
  }
  // On a Redis Cluster the channel is not a key of the script (it SPUBLISHes after WAIT): a
  // declared key that never exists in the keyspace would make a migrating slot answer ASK, and
  // the target TRYAGAIN, to every publish (Redis serves a multi-key command there only when it
  // has all of its keys).
  std::vector<std::string> argv{"EVALSHA", script_sha_, router_.cluster() ? "2" : "3",
                                keys_.seq(msg.room), keys_.log(msg.room)};
  if (!router_.cluster()) argv.push_back(keys_.channel(msg.room));
  argv.insert(argv.end(), {std::to_string(floor), std::to_string(kStreamMaxLen), msg.user_id,
                           msg.user, msg.body, std::to_string(msg.ts), cluster::message_tail(msg),
                           router_.cluster() ? "0" : "1", std::to_string(msg.delete_target),
                           canaries_[master], holds_[master]});
  return argv;
}

void ClusterLink::on_room_payload(const std::string& name, Room& room, std::string_view payload) {
  if (payload.starts_with("m")) {
    proto::ChatMessage msg;
    if (!cluster::parse_message(payload, name, msg)) {
      LOG_WARN("cluster_bad_payload", "room=%s", name.c_str());
      return;
    }
    offer(name, room, std::move(msg));
  } else if (payload.starts_with("p")) {
    ClusterPresenceIn in{name, {}, {}};
    std::string node;
    if (!cluster::parse_presence(payload, in.joins, in.leaves, node)) {
      LOG_WARN("cluster_bad_payload", "room=%s", name.c_str());
      return;
    }
    if (node == node_) return;
    known_nodes_.insert(node);
    to_owner(name, std::move(in));
  } else if (payload.starts_with("t")) {
    Typing t;
    std::string node;
    if (!cluster::parse_typing(payload, node, t.user_id, t.user_name) || node == node_) return;
    t.room = name;
    t.conn.shard = kRemoteNodeShard;
    to_owner(name, std::move(t));
  } else if (payload.starts_with("r")) {
    ClusterReadState rs{name, {}, 0};
    std::string node;
    if (!cluster::parse_read_state(payload, node, rs.user_id, rs.last_read_id) || node == node_) {
      return;
    }
    to_owner(name, std::move(rs));
  }
}

// ---------------------------------------------------------------- timers

}  // namespace rtchat::server
