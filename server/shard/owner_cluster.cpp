// The owner side's cluster-mode handlers (docs/cluster.md): messages from the cluster link.
// Without --cluster none of this runs.
#include <algorithm>

#include "server/log.h"
#include "server/shard/owner_rooms.h"

namespace rtchat::server {

void OwnerRooms::on_cluster_deliver(ClusterDeliver&& m) {
  OwnedRoom* room = owner_.find(m.message.room);
  // Dedup by id: the link delivers each id once, but a resync may overlap.
  if (!room || !room->cluster_synced || m.message.id <= room->last_committed_id) return;
  // Redis made it durable and ordered it: fan out now (the link sends the publisher's ok after
  // this), and keep the node's own copy for history when Redis is away (no answer needed).
  deliver_committed(*room, m.message);
  out_.send_to_storage(StoreAppend{std::move(m.message), std::nullopt});
}

void OwnerRooms::on_cluster_publish_done(ClusterPublishDone&& m) {
  // A delete_msg's ok names the deleted message (its own id is in the msg_deleted broadcast).
  ack(m.origin, m.ok, m.origin.delete_id != 0 ? m.origin.delete_id : m.id, std::move(m.reason));
}

void OwnerRooms::on_cluster_room_synced(ClusterRoomSynced&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room || !room->cluster_watched) return;  // unwatched meanwhile
  if (m.ok) {
    // Redis holds the order: its last id is the baseline (first sync), or the link has delivered
    // up to it (resync).
    room->last_committed_id =
        room->cluster_synced ? std::max(room->last_committed_id, m.last_id) : m.last_id;
    room->last_assigned_id = room->last_committed_id;
    room->cluster_baseline = true;      // a store answer arriving later does not override it
    bool quiet = !room->has_members();  // nobody to send a diff to
    note_remote_refused(m.room, owner_.replace_remote(m.room, std::move(m.remote)));
    if (quiet) {
      room->remote_pending_joins.clear();
      room->remote_pending_leaves.clear();
      room->remote_diff_pending = false;
    }
  } else if (!room->cluster_synced) {
    LOG_WARN("cluster_room_local", "room=%s reason=\"cluster link down\"", m.room.c_str());
  }
  room->cluster_synced = true;
  retry_waiting_joins(m.room);  // those still loading from the store wait again
}

void OwnerRooms::on_cluster_presence_in(ClusterPresenceIn&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room || !room->cluster_synced) return;  // the sync snapshot covers it
  note_remote_refused(m.room, owner_.apply_remote(m.room, m.joins, m.leaves));
}

// A peer past the bounds on remote metas (room_owner.h) is faulty or not ours: said once per
// batch, with the room, so an operator can find it.
void OwnerRooms::note_remote_refused(const std::string& room, size_t refused) {
  if (refused == 0) return;
  LOG_WARN("cluster_presence_refused", "room=%s metas=%zu total=%llu", room.c_str(), refused,
           static_cast<unsigned long long>(owner_.remote_metas_refused()));
}

void OwnerRooms::on_cluster_node_down(ClusterNodeDown&& m) { owner_.drop_remote_node(m.node); }

// This node's presence changes go to the other nodes too (remote ones never come back here).
void OwnerRooms::publish_presence_to_cluster(const std::string& room,
                                             const proto::PresenceDiff& diff) {
  ClusterPresenceOut out{room, {}, {}};
  for (const auto& [user, metas] : diff.joins) {
    for (const auto& meta : metas) out.joins.push_back(ClusterMeta{{}, user, meta});
  }
  for (const auto& [user, metas] : diff.leaves) {
    for (const auto& meta : metas) out.leaves.push_back(ClusterMeta{{}, user, meta});
  }
  out_.send_to_shard(link(), std::move(out));
}

}  // namespace rtchat::server
