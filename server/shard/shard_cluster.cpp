// The owner shard's cluster-mode handlers (docs/cluster.md): messages from the cluster link.
// Without --cluster none of this runs.
#include <algorithm>

#include "server/log.h"
#include "server/shard/shard.h"

namespace rtchat::server {

void Shard::on_cluster_deliver(ClusterDeliver&& m) {
  OwnedRoom* room = owner_.find(m.message.room);
  // Dedup by id: the link delivers each id once, but a resync may overlap.
  if (!room || !room->cluster_synced || m.message.id <= room->last_committed_id) return;
  // Redis made it durable and ordered it: fan out now (the link sends the publisher's ok after
  // this), and keep the node's own copy for history when Redis is away (no answer needed).
  deliver_committed(*room, m.message);
  send_to_storage(StoreAppend{std::move(m.message), std::nullopt});
}

void Shard::on_cluster_publish_done(ClusterPublishDone&& m) {
  const Publish& o = m.origin;
  send_to_shard(o.conn.shard,
                PublishAck{o.room, o.conn, o.join_ref, o.ref, m.ok, m.id, std::move(m.reason)});
}

void Shard::on_cluster_room_synced(ClusterRoomSynced&& m) {
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
    owner_.replace_remote(m.room, std::move(m.remote));
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

}  // namespace rtchat::server
