#include "server/shard/owner_rooms.h"

#include "core/clock.h"
#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/log.h"

namespace rtchat::server {
namespace {
// Publishes waiting for room in the link's mailbox before new ones are refused with "overloaded"
// (the mailbox itself holds 16384 more): bounds memory when Redis cannot keep up.
constexpr size_t kLinkBacklogLimit = 65536;
}  // namespace

OwnerRooms::OwnerRooms(unsigned index, const ServerConfig& config, OutboundPort& out,
                       FrameEncoder& encoder, ShardMetrics& metrics)
    : config_(config),
      out_(out),
      encoder_(encoder),
      metrics_(metrics),
      owner_(index, config.effective_shards()) {
  owner_.set_pacing(PresencePacing{.per_member_us = config.presence_pace_us_per_member,
                                   .storm_joins_per_s = config.presence_storm_joins_per_s});
}

void OwnerRooms::refuse_join(JoinRoom&& j, std::string reason) {
  JoinAccepted refused;
  refused.room = std::move(j.room);
  refused.conn = j.conn;
  refused.join_id = j.join_id;
  refused.join_ref = std::move(j.join_ref);
  refused.refused = std::move(reason);
  out_.send_to_shard(refused.conn.shard, std::move(refused));
}

void OwnerRooms::on_join_room(JoinRoom&& m) {
  if (!owner_.find(m.room) && out_.storage_overloaded()) {
    // A room not in use needs a read of its last id: not while storage is behind.
    return refuse_join(std::move(m), "overloaded");
  }
  OwnedRoom& record = owner_.ensure(m.room);
  if (!prepare(record, m.room)) {
    record.joins_waiting.push_back(std::move(m));
    return;
  }
  owner_.queue_turn_join(record, std::move(m));  // answered at the end of the turn
}

bool OwnerRooms::prepare(OwnedRoom& record, const std::string& room) {
  if (!record.loaded && !record.load_pending) {
    // A new record: its ids continue after the store's last id, read before any join is
    // answered (a recovering join compares last_seen_id with it; a publish takes the next id).
    record.load_pending = true;
    out_.send_to_storage(StoreLoadRoom{room});
  }
  if (cluster() && !record.cluster_synced && !record.cluster_watched) {
    // The room's first member on this node: subscribe and read its baseline before the join is
    // answered, so a recovering join knows the cluster's last id (ClusterRoomSynced). Runs
    // alongside the load; the join waits for both.
    record.cluster_watched = true;
    out_.send_to_shard(link(), ClusterWatch{room, true});
  }
  return record.loaded && (!cluster() || record.cluster_synced);
}

void OwnerRooms::on_leave_room(LeaveRoom&& m) {
  owner_.leave(m);
  OwnedRoom* room = owner_.find(m.room);
  if (!room) return;
  room->joins_waiting.cancel(m.conn);
  RoomOwner::cancel_turn_join(*room, m.conn);
  release_if_unused(m.room);
}

void OwnerRooms::release_if_unused(const std::string& name) {
  OwnedRoom* room = owner_.find(name);
  if (!room || room->has_members() || !room->joins_waiting.empty() ||
      !room->joins_this_turn.empty()) {
    return;
  }
  if (room->cluster_watched) {
    // The last member here left: stop receiving the room (its leave is still published).
    room->cluster_watched = false;
    room->cluster_synced = false;
    owner_.clear_remote(*room);
    out_.send_to_shard(link(), ClusterWatch{name, false});
  }
  maybe_unused_.push_back(name);
}

void OwnerRooms::on_room_loaded(StoreRoomLoaded&& d) {
  OwnedRoom* room = owner_.find(d.room);
  if (!room) return;  // not expected: a record is never dropped while its load is in flight
  room->load_pending = false;
  if (!d.ok) {
    // The next id is unknown: the joins waiting get an error (the client may retry), and the
    // record goes, so a later join asks the store again.
    std::vector<JoinRoom> waiting = room->joins_waiting.take();
    for (auto& j : waiting) refuse_join(std::move(j), "storage unavailable");
    retry_waiting_publishes(*room, false);
    release_if_unused(d.room);
    return;
  }
  RoomOwner::apply_loaded(*room, d.last_id);
  retry_waiting_joins(d.room);
  if (OwnedRoom* loaded = owner_.find(d.room)) retry_waiting_publishes(*loaded, true);
  maybe_unused_.push_back(std::move(d.room));  // every join that waited may have left meanwhile
}

void OwnerRooms::retry_waiting_joins(const std::string& name) {
  OwnedRoom* room = owner_.find(name);
  if (!room) return;
  // In arrival order; a join still not ready (cluster sync pending) waits again.
  const bool queued = !room->joins_waiting.empty();
  std::vector<JoinRoom> waiting = room->joins_waiting.take();
  // Every join waiting left meanwhile (JoinQueue): as when a leave empties the queue at once.
  if (queued && waiting.empty()) return release_if_unused(name);
  for (auto& j : waiting) on_join_room(std::move(j));
}

void OwnerRooms::ack(const Publish& o, bool ok, int64_t id, std::string reason) {
  if (o.from_api && !o.idempotency_key.empty()) {
    if (ok) {
      idempotency_.complete(o.room, o.idempotency_key, id);
    } else {
      idempotency_.abandon(o.room, o.idempotency_key);
    }
  }
  out_.send_to_shard(o.conn.shard, PublishAck{o.room, o.conn, o.join_ref, o.ref, ok, ok ? id : 0,
                                              std::move(reason), o.from_api, false});
}

void OwnerRooms::on_publish(Publish&& m) {
  // The server API's publishes may target a room not in use here (owner_api.cpp).
  if (m.from_api && hold_api_publish(m)) return;
  order_publish(std::move(m));
}

void OwnerRooms::order_publish(Publish&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room && !m.from_api) return ack(m, false, 0, "not joined");
  // A slow disk or a Redis slower than the publishers: refuse rather than queue without bound.
  if (cluster() ? out_.backlogged(link(), kLinkBacklogLimit) : out_.storage_overloaded()) {
    return ack(m, false, 0, "overloaded");
  }
  proto::ChatMessage msg{0, m.room, m.user_id, m.user_name, std::move(m.body), core::unix_millis()};
  msg.delete_target = m.delete_id;
  if (m.delete_id != 0 && !m.delete_checked) {
    // delete_msg: checked against the stored target first (on_delete_checked), then ordered
    // like a message, so a refused delete takes no id. The record stays for the answer.
    if (room) room->appends_in_flight++;
    out_.send_to_storage(StoreAppend{std::move(msg), std::move(m), true});
    return;
  }
  if (cluster()) {
    // Redis orders it; the link delivers it back (ClusterDeliver) before its ok. Without a record
    // here (an API publish) the floor is the stream's own last id.
    int64_t floor = room ? room->last_committed_id : 0;
    out_.send_to_shard(link(), ClusterPublish{std::move(msg), std::move(m), floor});
    return;
  }
  msg.id = ++room->last_assigned_id;
  // Fan-out waits for the commit: nobody sees a message that history does not have. The room's
  // record stays until the answer is back (the answer needs it; a re-created record would read
  // a last id that misses this append).
  room->appends_in_flight++;
  out_.send_to_storage(StoreAppend{std::move(msg), std::move(m)});
}

void OwnerRooms::on_append_done(StoreAppendDone&& d) {
  const Publish& origin = d.origin;
  OwnedRoom* room = owner_.find(d.message.room);
  if (room && room->appends_in_flight > 0) {
    if (--room->appends_in_flight == 0) maybe_unused_.push_back(d.message.room);
  }
  if (room && origin.delete_id != 0 && !d.checked) {
    std::erase(room->deletes_in_flight, origin.delete_id);
  }
  if (!d.refused.empty()) return ack(origin, false, 0, d.refused);  // delete_msg refused
  if (d.checked) return on_delete_checked(std::move(d));            // owner_api.cpp
  if (!room) {
    // Not expected: a record with appends in flight is never dropped. Answer what storage said.
    LOG_ERROR("append_done_unknown_room", "room=%s id=%lld", d.message.room.c_str(),
              static_cast<long long>(d.message.id));
  }
  // A delete_msg's ok names the deleted message (its own id is in the msg_deleted broadcast).
  const int64_t acked_id = origin.delete_id != 0 ? origin.delete_id : d.message.id;
  if (!d.ok || !room) return ack(origin, d.ok, acked_id, d.ok ? "" : "storage unavailable");
  deliver_committed(*room, d.message);
  // Same queue as the broadcast to the sender's shard, after it: the sender sees its message
  // before the ok reply, as Phoenix does.
  ack(origin, true, acked_id, {});
}

void OwnerRooms::deliver_committed(OwnedRoom& room, const proto::ChatMessage& message) {
  room.last_committed_id = std::max(room.last_committed_id, message.id);
  std::string topic = topic_of(message.room);
  RoomBroadcast b;
  b.room = message.room;
  b.message_id = message.id;
  b.published_us = core::mono_micros();
  if (message.delete_target != 0) {  // moderation: msg_deleted, ordered like a message
    encoder_.encode_broadcast(
        b, room.binary_members,
        [&](std::string& o) { proto::phoenix::encode_msg_deleted(topic, message, o); },
        [&](std::string& o) { proto::binary::encode_msg_deleted(topic, message, o); });
  } else {
    encoder_.encode_broadcast(
        b, room.binary_members,
        [&](std::string& o) { proto::phoenix::encode_new_msg(topic, message, o); },
        [&](std::string& o) { proto::binary::encode_new_msg(topic, message, o); });
  }
  broadcast_to_members(room, std::move(b));
}

void OwnerRooms::on_typing(Typing&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room) return;
  if (cluster() && m.conn.shard != kRemoteNodeShard) {
    out_.send_to_shard(link(), Typing(m));  // to the room's members on other nodes
  }
  std::string topic = topic_of(m.room);
  RoomBroadcast b;
  b.room = m.room;
  b.except = m.conn;
  encoder_.encode_broadcast(
      b, room->binary_members,
      [&](std::string& o) { proto::phoenix::encode_typing(topic, m.user_id, m.user_name, o); },
      [&](std::string& o) { proto::binary::encode_typing(topic, m.user_id, m.user_name, o); });
  broadcast_to_members(*room, std::move(b));
}

void OwnerRooms::on_catchup_done(StoreCatchupDone&& d) {
  unsigned member = d.request.conn.shard;
  CatchupReady ready{std::move(d.request.room), d.request.conn,        d.request.join_id, d.ok,
                     d.request.upto_id,         std::move(d.messages), d.too_large};
  ready.recovering = d.request.recovering;
  ready.recovered = d.request.recovered;
  if (d.request.read_state_of && d.read_state_ok) ready.last_read_id = d.last_read_id;
  ready.unread = d.unread;
  out_.send_to_shard(member, std::move(ready));
}

void OwnerRooms::broadcast_to_members(OwnedRoom& owned, RoomBroadcast&& b) {
  int last = -1;
  for (size_t s = 0; s < owned.members_per_shard.size(); ++s) {
    if (owned.members_per_shard[s]) last = static_cast<int>(s);
  }
  // One enqueue per member shard (not per member); the frames are shared, not copied.
  for (int s = 0; s <= last; ++s) {
    if (!owned.members_per_shard[static_cast<size_t>(s)]) continue;
    if (s == last) {
      out_.send_to_shard(static_cast<unsigned>(s), std::move(b));
    } else {
      out_.send_to_shard(static_cast<unsigned>(s), RoomBroadcast(b));
    }
  }
}

void OwnerRooms::broadcast_presence_diff(const std::string& room, OwnedRoom& owned,
                                         const proto::PresenceDiff& diff) {
  std::string topic = topic_of(room);
  RoomBroadcast b;
  b.room = room;
  encoder_.encode_broadcast(
      b, owned.binary_members,
      [&](std::string& o) { proto::phoenix::encode_presence_diff(topic, diff, o); },
      [&](std::string& o) { proto::binary::encode_presence_diff(topic, diff, o); });
  metrics_.presence_diffs.add();
  broadcast_to_members(owned, std::move(b));
}

void OwnerRooms::end_of_turn() {
  answer_turn_joins();  // before the diffs: a joiner's state comes before the diff of its join
  owner_.take_pending_diffs(core::mono_millis(), [&](const std::string& room, OwnedRoom& owned,
                                                     proto::PresenceDiff& diff) {
    if (cluster()) publish_presence_to_cluster(room, diff);
    broadcast_presence_diff(room, owned, diff);
    // A paced diff may be the last thing a room without members waited for.
    if (!owned.has_members()) maybe_unused_.push_back(room);
  });
  if (cluster()) {
    // Other nodes' changes: to this node's members only.
    owner_.take_remote_diffs(
        [&](const std::string& room, OwnedRoom& owned, proto::PresenceDiff& diff) {
          if (!owned.has_members()) return;
          broadcast_presence_diff(room, owned, diff);
        });
  }
  // Last: a room whose last member left this turn has just sent its leave diff.
  for (const auto& name : maybe_unused_) owner_.drop_if_unused(name);
  maybe_unused_.clear();
  metrics_.rooms_owned.set(owner_.room_count());
  if (const int64_t now = core::mono_millis(); now >= next_prune_ms_) {
    owner_.prune_idle(now);
    next_prune_ms_ = now + 1000;
  }
}

}  // namespace rtchat::server
