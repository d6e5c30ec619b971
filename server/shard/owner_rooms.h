// The owner side of rooms (owner = owner_shard(room)): each room's order (ids), persistence
// through the storage thread, fan-out of committed messages to the member shards (one
// RoomBroadcast per member shard, frames encoded once), presence (one state per room per turn
// shared by its joiners, diffs paced by room size) and, in cluster mode, the cluster link's
// messages (owner_cluster.cpp, docs/cluster.md). RoomOwner keeps the records; this type turns
// messages into its calls and answers.
#pragma once

#include <string>
#include <vector>

#include "server/config.h"
#include "server/metrics.h"
#include "server/shard/frame_encoder.h"
#include "server/shard/ports.h"
#include "server/shard/presence_state_frames.h"
#include "server/shard/room_owner.h"

namespace rtchat::server {

class OwnerRooms {
 public:
  OwnerRooms(unsigned index, const ServerConfig& config, OutboundPort& out, FrameEncoder& encoder,
             ShardMetrics& metrics);

  // ---- from member shards
  void on_join_room(JoinRoom&& m);
  void on_leave_room(LeaveRoom&& m);
  void on_publish(Publish&& m);
  void on_typing(Typing&& m);
  // ---- from the storage thread
  void on_room_loaded(StoreRoomLoaded&& m);
  void on_append_done(StoreAppendDone&& m);
  void on_catchup_done(StoreCatchupDone&& m);
  // ---- from the cluster link (owner_cluster.cpp)
  void on_cluster_deliver(ClusterDeliver&& m);
  void on_cluster_publish_done(ClusterPublishDone&& m);
  void on_cluster_room_synced(ClusterRoomSynced&& m);
  void on_cluster_presence_in(ClusterPresenceIn&& m);
  void on_cluster_node_down(ClusterNodeDown&& m);

  // End of a loop turn: one presence diff per changed room, then rooms no longer used are dropped.
  void end_of_turn();
  [[nodiscard]] size_t room_count() const { return owner_.room_count(); }
  RoomOwner& records() { return owner_; }
  // When the earliest paced presence diff is due (INT64_MAX: none): the loop wakes for it.
  [[nodiscard]] int64_t next_diff_due_ms() const { return owner_.next_diff_due_ms(); }

 private:
  [[nodiscard]] bool cluster() const { return !config_.cluster_url.empty(); }
  [[nodiscard]] unsigned link() const { return config_.effective_shards(); }
  // Starts what a record needs before its joins are answered (store load, cluster sync). True
  // when the room is ready now.
  bool prepare(OwnedRoom& record, const std::string& room);
  // The joins of this turn, room by room: one presence_state per room shared by all its joiners
  // (owner_presence.cpp).
  void answer_turn_joins();
  void answer_join(JoinAccepted& accepted, std::optional<StoreCatchup>& catchup,
                   const JoinRoom& join, PresenceStateFrames& frames);
  void refuse_join(JoinRoom&& j, std::string reason);  // answered on the member shard
  void ack(const Publish& origin, bool ok, int64_t id, std::string reason);
  void retry_waiting_joins(const std::string& room);
  // No member and no join waiting: stop watching the room in the cluster, and drop its record at
  // the end of the turn once nothing else refers to it.
  void release_if_unused(const std::string& room);
  // A committed message (stored here, or ordered by Redis): the room's last id moves and every
  // member shard gets its frames, encoded once.
  void deliver_committed(OwnedRoom& room, const proto::ChatMessage& message);
  void broadcast_to_members(OwnedRoom& owned, RoomBroadcast&& b);  // to every member shard
  void broadcast_presence_diff(const std::string& room, OwnedRoom& owned,
                               const proto::PresenceDiff& diff);
  void publish_presence_to_cluster(const std::string& room, const proto::PresenceDiff& diff);

  const ServerConfig& config_;
  OutboundPort& out_;
  FrameEncoder& encoder_;
  ShardMetrics& metrics_;
  RoomOwner owner_;
  // Rooms that may have become unused this turn: dropped at the end of the turn, after the
  // presence diffs they still owe are flushed.
  std::vector<std::string> maybe_unused_;
  int64_t next_prune_ms_ = 0;  // once a second: per-user join budgets full again are dropped
};

}  // namespace rtchat::server
