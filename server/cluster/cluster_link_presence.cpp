// The cluster link's presence side (server/cluster/cluster_link.h): this node's metas in Redis,
// other nodes' deaths, a restarted node's leftovers, the goodbye on a graceful stop.
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"

namespace rtchat::server {

// This node's presence diff in a room: mirrored in own_presence_ (rewritten after Redis comes
// back), written to the room's hash and published to the other nodes.
void ClusterLink::on_presence_out(ClusterPresenceOut& po) {
  auto& mine = own_presence_[po.room];
  std::vector<std::string> del{"HDEL", keys_.presence(po.room)};
  std::vector<std::string> set{"HSET", keys_.presence(po.room)};
  for (const auto& m : po.leaves) {
    auto f = cluster::presence_field(node_, m.meta.phx_ref());
    mine.erase(f);
    del.push_back(std::move(f));
  }
  for (const auto& m : po.joins) {
    auto f = cluster::presence_field(node_, m.meta.phx_ref());
    auto v = cluster::presence_value(m);
    mine[f] = v;
    set.push_back(std::move(f));
    set.push_back(std::move(v));
  }
  if (mine.empty()) own_presence_.erase(po.room);
  if (!up_) return;  // rewritten from own_presence_ when Redis is back
  if (del.size() > 2) append(del);
  if (set.size() > 2) append(set);
  append({publish_verb(), keys_.channel(po.room),
          cluster::presence_payload(node_, po.joins, po.leaves)});
}

// After the shards stopped: metas whose leave the shards could not send any more (an owner shard
// stopped first) are deleted and announced, and the liveness key goes.
void ClusterLink::say_goodbye() {
  // The shards are gone and their last leaves are published: say goodbye.
  if (up_) {
    // Metas whose leave the shards could not send any more (an owner shard stopped first).
    for (auto& [room, fields] : own_presence_) {
      if (fields.empty()) continue;
      std::vector<std::string> argv{"HDEL", keys_.presence(room)};
      std::vector<ClusterMeta> leaves;
      for (auto& [f, v] : fields) {
        argv.push_back(f);
        ClusterMeta m;
        if (cluster::parse_presence_entry(f, v, m)) leaves.push_back(std::move(m));
      }
      append(argv);
      append({publish_verb(), keys_.channel(room), cluster::presence_payload(node_, {}, leaves)});
    }
    append({"DEL", keys_.node(node_)});
    for (const auto& key : canaries_) append({"DEL", key});
    flush_pipeline();
  }
}

void ClusterLink::check_nodes() {
  std::vector<std::string> dead;
  for (const auto& n : known_nodes_) {
    ReplyPtr r = command({"EXISTS", keys_.node(n)});
    if (!r) return;
    if (reply_int(r.get()) == 0) dead.push_back(n);
  }
  for (const auto& n : dead) {
    known_nodes_.erase(n);
    LOG_WARN("cluster_node_down", "node=%s", n.c_str());
    for (auto& o : outboxes_) o->send(ClusterNodeDown{n});
    // Tidy its metas in Redis so that later syncs do not see them (any node may do it).
    std::string prefix = n + "|";
    for (auto& [name, room] : rooms_) {
      ReplyPtr keys = command({"HKEYS", keys_.presence(name)});
      if (!keys) return;
      std::vector<std::string> argv{"HDEL", keys_.presence(name)};
      for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; ++i) {
        auto f = reply_text(keys->element[i]);
        if (f.starts_with(prefix)) argv.emplace_back(f);
      }
      if (argv.size() > 2) command(argv);
    }
  }
}

void ClusterLink::republish_own_presence() {
  for (auto& [room, fields] : own_presence_) {
    if (fields.empty()) continue;
    std::vector<std::string> set{"HSET", keys_.presence(room)};
    std::vector<ClusterMeta> joins;
    for (auto& [f, v] : fields) {
      set.push_back(f);
      set.push_back(v);
      ClusterMeta m;
      if (cluster::parse_presence_entry(f, v, m)) joins.push_back(std::move(m));
    }
    append(set);
    append({publish_verb(), keys_.channel(room), cluster::presence_payload(node_, joins, {})});
  }
}

// A restarted node that kept its --node-id: the metas its previous process left in Redis are
// removed and announced as leaves (its liveness key never lapsed, so nobody else would).
void ClusterLink::purge_stale_self() {
  for (size_t n = 0; up_ && n < router_.size(); ++n) purge_stale_self_on(n);  // SCAN per master
}

void ClusterLink::purge_stale_self_on(size_t node) {
  std::string cursor = "0";
  int rounds = 0;
  do {
    ReplyPtr scan = command_on(node, {"SCAN", cursor, "MATCH", "rtchat:pres:*", "COUNT", "1000"});
    if (!scan || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) return;
    cursor = std::string(reply_text(scan->element[0]));
    const redisReply* keys = scan->element[1];
    for (size_t k = 0; keys && keys->type == REDIS_REPLY_ARRAY && k < keys->elements; ++k) {
      std::string room;
      if (keys_.room_of_presence(reply_text(keys->element[k]), room)) purge_stale_room(room);
      if (!up_) return;
    }
  } while (cursor != "0" && ++rounds < 100000);
}

void ClusterLink::purge_stale_room(const std::string& room) {
  std::string prefix = node_ + "|";
  std::string key = keys_.presence(room);
  ReplyPtr hash = command({"HGETALL", key});
  if (!hash || hash->type != REDIS_REPLY_ARRAY) return;
  std::vector<std::string> del{"HDEL", key};
  std::vector<ClusterMeta> leaves;
  for (size_t i = 0; i + 1 < hash->elements; i += 2) {
    auto f = reply_text(hash->element[i]);
    ClusterMeta m;
    if (!f.starts_with(prefix)) continue;
    del.emplace_back(f);
    if (cluster::parse_presence_entry(f, reply_text(hash->element[i + 1]), m)) {
      leaves.push_back(std::move(m));
    }
  }
  if (del.size() == 2) return;
  command(del);
  command({publish_verb(), keys_.channel(room), cluster::presence_payload(node_, {}, leaves)});
}

}  // namespace rtchat::server
