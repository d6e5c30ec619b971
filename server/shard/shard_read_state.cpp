// Read state across devices (docs/protocol.md "Read state"): mark_read is ordered on the room's
// owner shard like a publish, stored in the storage thread's group commit, acknowledged after the
// commit, and pushed as read_state to the user's other sockets in the room. A join loads the
// user's position with it (through the catch-up trip, so live frames are held until the reply).
#include <algorithm>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/shard/shard.h"

namespace rtchat::server {
namespace {

constexpr std::string_view kInvalidPayload = "invalid_payload";

std::string room_topic(std::string_view room) {
  std::string t = "room:";
  t += room;
  return t;
}

}  // namespace

// ---------------------------------------------------------------- member side

void Shard::handle_mark_read(Connection& c, Channel& ch, proto::ClientMessage& m) {
  if (!m.payload_valid || !m.read_id) {
    send_error_reply(c, m.join_ref, m.ref, m.topic, kInvalidPayload);
    return;
  }
  send_to_shard(owner_shard(ch.room, config_.effective_shards()),
                MarkRead{ch.room, c.ref, m.join_ref, m.ref, c.claims.sub, *m.read_id});
}

void Shard::on_mark_read_ack(MarkReadAck&& a) {
  Connection* c = lookup(a.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = room_topic(a.room);
  if (!a.ok) {
    send_error_reply(*c, a.join_ref, a.ref, topic, a.reason);
    return;
  }
  metrics_.read_marks.add();
  proto::Reply ok;
  ok.join_ref = std::move(a.join_ref);
  ok.ref = std::move(a.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::MarkRead;
  ok.body.last_read_id = a.last_read_id;
  send_reply(*c, std::move(ok));
}

void Shard::on_read_state_push(ReadStatePush&& p) {
  std::string topic = room_topic(p.room);
  core::SharedFrame frames[2];  // [Json, Binary], each encoded once for this shard
  for (const ConnRef& ref : p.conns) {
    Connection* c = lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    Channel* ch = c->find_channel(topic);
    if (!ch || !ch->is_joined) continue;
    core::SharedFrame& frame = frames[c->format == WireFormat::Binary ? 1 : 0];
    if (frame.empty()) {
      frame = encode_frame(
          c->format,
          [&](std::string& o) { proto::phoenix::encode_read_state(topic, p.last_read_id, o); },
          [&](std::string& o) { proto::binary::encode_read_state(topic, p.last_read_id, o); });
    }
    if (ch->catching_up) {
      hold_frame(*c, *ch, 0, frame);
    } else {
      queue_frame(*c, frame);
    }
  }
}

// ---------------------------------------------------------------- owner side

void Shard::on_mark_read(MarkRead&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room || storage_overloaded()) {  // a slow disk: refuse rather than queue without bound
    std::string reason = room ? "overloaded" : "not joined";
    send_to_shard(m.conn.shard,
                  MarkReadAck{m.room, m.conn, m.join_ref, m.ref, false, 0, std::move(reason)});
    return;
  }
  // Nobody can have read past the last message: an id above it is clamped, so a client's
  // mistake cannot hide messages that arrive later.
  const int64_t id = std::min(m.id, room->last_committed_id);
  std::string user_id = m.user_id;
  send_to_storage(StoreMarkRead{std::move(user_id), id, std::move(m)});
}

void Shard::on_mark_read_done(StoreMarkReadDone&& d) {
  const MarkRead& origin = d.origin;
  if (origin.conn.shard == kRemoteNodeShard) {  // another node's mark: nobody to answer
    if (d.ok) push_read_state(origin, d.last_read_id);
    return;
  }
  if (!d.ok) {
    send_to_shard(origin.conn.shard, MarkReadAck{origin.room, origin.conn, origin.join_ref,
                                                 origin.ref, false, 0, "storage unavailable"});
    return;
  }
  push_read_state(origin, d.last_read_id);
  if (!config_.cluster_url.empty()) {  // the user's sockets on the other nodes
    send_to_shard(config_.effective_shards(),
                  ClusterReadState{origin.room, origin.user_id, d.last_read_id});
  }
  send_to_shard(
      origin.conn.shard,
      MarkReadAck{origin.room, origin.conn, origin.join_ref, origin.ref, true, d.last_read_id, {}});
}

// Stored here too (max, like any mark), then pushed to every local socket of the user in the
// room. Only nodes with members in the room receive it (the link subscribes rooms in use).
void Shard::on_cluster_read_state(ClusterReadState&& m) {
  if (storage_overloaded()) return;  // best effort, like the publish that carried it
  MarkRead origin{m.room,       ConnRef{kRemoteNodeShard, 0, 0},
                  std::nullopt, std::nullopt,
                  m.user_id,    m.last_read_id};
  send_to_storage(StoreMarkRead{std::move(m.user_id), m.last_read_id, std::move(origin)});
}

// The user's other sockets in the room, grouped by their shard: one message per shard.
void Shard::push_read_state(const MarkRead& origin, int64_t last_read_id) {
  OwnedRoom* room = owner_.find(origin.room);
  if (!room) return;  // nobody left in the room to tell
  auto it = room->presence.find(origin.user_id);
  if (it == room->presence.end()) return;
  std::vector<ReadStatePush> per_shard(config_.effective_shards());
  for (const PresenceRecord& record : it->second) {
    if (record.conn == origin.conn || record.conn.shard >= per_shard.size()) continue;
    per_shard[record.conn.shard].conns.push_back(record.conn);
  }
  for (unsigned s = 0; s < per_shard.size(); ++s) {
    if (per_shard[s].conns.empty()) continue;
    per_shard[s].room = origin.room;
    per_shard[s].last_read_id = last_read_id;
    send_to_shard(s, std::move(per_shard[s]));
  }
}

// Every accepted join loads the user's read state for its reply: a recovering join in the same
// trip as its catch-up, any other through a trip that loads no messages. Skipped while storage
// is behind (the reply then has no read state, docs/protocol.md).
void Shard::load_read_state_with_join(const JoinRoom& m, const OwnedRoom& room,
                                      JoinAccepted& accepted,
                                      std::optional<StoreCatchup>& catchup) {
  if (storage_overloaded()) return;
  if (!catchup) {
    catchup =
        StoreCatchup{m.room, m.conn, m.join_id, room.last_committed_id, room.last_committed_id, 0};
    catchup->recovering = false;
    catchup->recovered = accepted.recovered;
    accepted.catchup_pending = true;
  }
  catchup->read_state_of = m.user_id;
}

}  // namespace rtchat::server
