// Read state across devices, the room owner's side (docs/protocol.md "Read state"): a mark_read is
// ordered here like a publish (clamped to the room's last committed id), stored in the storage
// thread's group commit, acknowledged after the commit and pushed as read_state to the user's
// other sockets in the room (and, in cluster mode, to the other nodes). A join loads the user's
// position with it, through the catch-up trip, so live frames are held until its reply.
#include <algorithm>

#include "server/shard/owner_rooms.h"

namespace rtchat::server {

void OwnerRooms::on_mark_read(MarkRead&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room || out_.storage_overloaded()) {  // a slow disk: refuse rather than queue without bound
    std::string reason = room ? "overloaded" : "not joined";
    out_.send_to_shard(m.conn.shard,
                       MarkReadAck{m.room, m.conn, m.join_ref, m.ref, false, 0, std::move(reason)});
    return;
  }
  // Nobody can have read past the last message: an id above it is clamped, so a client's
  // mistake cannot hide messages that arrive later.
  const int64_t id = std::min(m.id, room->last_committed_id);
  std::string user_id = m.user_id;
  out_.send_to_storage(StoreMarkRead{std::move(user_id), id, std::move(m)});
}

void OwnerRooms::on_mark_read_done(StoreMarkReadDone&& d) {
  const MarkRead& origin = d.origin;
  if (origin.conn.shard == kRemoteNodeShard) {  // another node's mark: nobody to answer
    if (d.ok) push_read_state(origin, d.last_read_id);
    return;
  }
  if (!d.ok) {
    out_.send_to_shard(origin.conn.shard, MarkReadAck{origin.room, origin.conn, origin.join_ref,
                                                      origin.ref, false, 0, "storage unavailable"});
    return;
  }
  push_read_state(origin, d.last_read_id);
  if (cluster())
    out_.send_to_shard(link(), ClusterReadState{origin.room, origin.user_id, d.last_read_id});
  out_.send_to_shard(
      origin.conn.shard,
      MarkReadAck{origin.room, origin.conn, origin.join_ref, origin.ref, true, d.last_read_id, {}});
}

// The user's other sockets in the room, grouped by their shard: one message per shard.
void OwnerRooms::push_read_state(const MarkRead& origin, int64_t last_read_id) {
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
    out_.send_to_shard(s, std::move(per_shard[s]));
  }
}

// Stored here too (max, like any mark), then pushed to every local socket of the user in the
// room. Only nodes with members in the room receive it (the link subscribes rooms in use).
void OwnerRooms::on_cluster_read_state(ClusterReadState&& m) {
  if (out_.storage_overloaded()) return;  // best effort, like the publish that carried it
  MarkRead origin{m.room,       ConnRef{kRemoteNodeShard, 0, 0},
                  std::nullopt, std::nullopt,
                  m.user_id,    m.last_read_id};
  out_.send_to_storage(StoreMarkRead{std::move(m.user_id), m.last_read_id, std::move(origin)});
}

// Every accepted join loads the user's read state for its reply: a recovering join in the same
// trip as its catch-up, any other through a trip that loads no messages. Skipped while storage
// is behind (the reply then has no read state, docs/protocol.md).
void OwnerRooms::load_read_state_with_join(const JoinRoom& m, const OwnedRoom& room,
                                           JoinAccepted& accepted,
                                           std::optional<StoreCatchup>& catchup) {
  if (out_.storage_overloaded()) return;
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
