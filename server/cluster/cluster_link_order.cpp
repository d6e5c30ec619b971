// The cluster link's order (server/cluster/cluster_link.h): a room's baseline when it is
// (re)subscribed, then every id delivered to the owner shard in order and once, gaps filled from
// the stream, and the oks released after the delivery of their id.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

constexpr int kFillCount = 10000;  // ids fetched per XRANGE when filling a gap

std::string to_string(int64_t v) { return std::to_string(v); }

}  // namespace

// Right after SUBSCRIBE is confirmed: everything published from now on reaches us, so the
// sequence read now is the room's baseline and the hash read now is the other nodes' presence
// (published changes that raced with the read are applied again, idempotently, by phx_ref).
void ClusterLink::sync_room(const std::string& name) {
  auto it = rooms_.find(name);
  if (it == rooms_.end() || !it->second.wanted) return;
  Room& room = it->second;
  // The baseline, raised to what this node delivered if Redis went back below it.
  ReplyPtr seq = raise_sequence(name, std::max<int64_t>(room.last_delivered, 0));
  ReplyPtr hash = seq ? command({"HGETALL", keys_.presence(name)}) : nullptr;
  if (!seq || !hash) {
    // Its master was lost, or answered MOVED (the map is read again): subscribed again after it;
    // the joins waiting for a first sync go ahead local-only meanwhile.
    if (up_ && room.last_delivered < 0) to_owner(name, ClusterRoomSynced{name, false, 0, {}});
    forget_subscription(room);
    return;
  }
  int64_t last_id = reply_int(seq.get());
  std::vector<ClusterMeta> remote;
  std::set<std::string> nodes;
  if (hash->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
      ClusterMeta m;
      if (!cluster::parse_presence_entry(reply_text(hash->element[i]),
                                         reply_text(hash->element[i + 1]), m)) {
        continue;
      }
      if (m.node == node_) continue;
      nodes.insert(m.node);
      remote.push_back(std::move(m));
    }
  }
  if (core::mono_millis() >= grace_until_ms_) {
    // Metas of nodes that are gone (killed before anybody noticed) are not shown.
    for (const auto& n : nodes) {
      // Unknown (the key's master is down right now): kept as alive; the next sync checks again.
      ReplyPtr alive = command({"EXISTS", keys_.node(n)});
      if (!alive || reply_int(alive.get()) != 0) continue;
      std::vector<std::string> del{"HDEL", keys_.presence(name)};
      for (const auto& m : remote) {
        if (m.node == n) del.push_back(cluster::presence_field(n, m.meta.phx_ref()));
      }
      command(del);
      std::erase_if(remote, [&](const ClusterMeta& m) { return m.node == n; });
    }
  }
  for (const auto& m : remote) known_nodes_.insert(m.node);
  // Publishes that Redis ordered while the room was being resubscribed: deliver from the first.
  if (room.last_delivered < 0 && !room.pending.empty()) {
    room.last_delivered = room.pending.begin()->first - 1;
  }
  if (!up_ || room.master == kNoMaster) return;  // its master was lost meanwhile
  if (room.last_delivered >= 0 && room.last_delivered < last_id &&
      !fill_gap(name, room, last_id)) {  // resync after Redis was away: what this node missed
    return abandon_sync(name, room);
  }
  if (!up_ || room.master == kNoMaster) return;
  room.last_delivered = std::max(room.last_delivered, last_id);
  room.subscribed = true;
  to_owner(name, ClusterRoomSynced{name, true, last_id, std::move(remote)});
  advance(name, room);
}

void ClusterLink::offer(const std::string& name, Room& room, proto::ChatMessage&& msg) {
  if (msg.id <= room.last_delivered) return;  // already delivered: each id once
  room.pending.try_emplace(msg.id, std::move(msg));
  advance(name, room);
}

void ClusterLink::advance(const std::string& name, Room& room) {
  while (!room.pending.empty()) {
    auto first = room.pending.begin();
    if (first->first <= room.last_delivered) {
      room.pending.erase(first);
      continue;
    }
    if (first->first != room.last_delivered + 1) break;
    room.last_delivered = first->first;
    to_owner(name, ClusterDeliver{std::move(first->second)});
    room.pending.erase(first);
  }
  release_acks(room, false);
  if (room.pending.empty()) {
    room.gap_since_ms = 0;
  } else if (room.gap_since_ms == 0) {
    room.gap_since_ms = core::mono_millis();
  }
}

// The stream is the order: everything after last_delivered is delivered as stored, and ids that
// the stream does not have (a failed script, trimmed history) are skipped. Read page by page
// (kFillCount entries each) up to the bound. False when a read failed: nothing after what was
// delivered is skipped then (the caller leaves the room unsynced, or the next tick retries).
bool ClusterLink::fill_gap(const std::string& name, Room& room, int64_t upto) {
  std::string from = to_string(room.last_delivered + 1) + "-0";
  // On a Redis Cluster the stream's newest entries may not be on a replica yet (their WAIT is
  // pending): a gap is filled only up to the highest id announced, which its WAIT confirmed,
  // and with it everything before it on that master (replication keeps the master's order).
  int64_t bound = upto;
  if (bound <= 0 && router_.cluster() && !room.pending.empty())
    bound = room.pending.rbegin()->first;
  std::string to = bound > 0 ? to_string(bound) + "-0" : "+";
  for (;;) {
    ReplyPtr r = command({"XRANGE", keys_.log(name), from, to, "COUNT", to_string(kFillCount)});
    if (!r || r->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i < r->elements; ++i) {
      proto::ChatMessage msg;
      if (!parse_stream_entry(r->element[i], name, msg) || msg.id <= room.last_delivered) continue;
      room.pending.erase(msg.id);
      room.last_delivered = msg.id;
      to_owner(name, ClusterDeliver{std::move(msg)});
    }
    if (r->elements < static_cast<size_t>(kFillCount)) break;
    // The next page starts after this page's last entry (exclusive range), whatever it held.
    const redisReply* last = r->element[r->elements - 1];
    if (last->type != REDIS_REPLY_ARRAY || last->elements < 1) return false;
    from = "(" + std::string(reply_text(last->element[0]));
  }
  if (upto <= 0 && !room.pending.empty()) {
    // What pub/sub announced is in the stream before its announcement: a hole left here is an
    // id that was never stored. Move past it.
    LOG_WARN("cluster_gap_skipped", "room=%s after=%lld next=%lld", name.c_str(),
             static_cast<long long>(room.last_delivered),
             static_cast<long long>(room.pending.begin()->first));
    room.last_delivered = room.pending.begin()->first - 1;
  }
  room.gap_since_ms = 0;
  advance(name, room);
  return true;
}

void ClusterLink::fail_acks(Room& room) {
  for (auto& [id, done] : room.acks) {
    std::string r = done.origin.room;
    to_owner(r, ClusterPublishDone{std::move(done.origin), false, 0, "cluster unavailable"});
  }
  room.acks.clear();
}

void ClusterLink::release_acks(Room& room, bool all) {
  while (!room.acks.empty() && (all || room.acks.begin()->first <= room.last_delivered)) {
    ClusterPublishDone done = std::move(room.acks.begin()->second);
    room.acks.erase(room.acks.begin());
    std::string r = done.origin.room;
    to_owner(r, std::move(done));
  }
}

}  // namespace rtchat::server
