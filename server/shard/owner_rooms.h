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
#include "server/shard/idempotency_table.h"
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
  // ---- read state (read_state_owner.cpp, docs/protocol.md "Read state")
  void on_mark_read(MarkRead&& m);                   // from a member shard
  void on_mark_read_done(StoreMarkReadDone&& d);     // from the storage thread
  void on_cluster_read_state(ClusterReadState&& m);  // a mark from another node
  // ---- from the server API's HTTP shard (owner_api.cpp)
  void on_api_presence_query(ApiPresenceQuery&& q);
  void on_api_rooms_query(ApiRoomsQuery&& q);

  // End of a loop turn: one presence diff per changed room, then rooms no longer used are dropped.
  void end_of_turn();
  [[nodiscard]] size_t room_count() const { return owner_.room_count(); }
  RoomOwner& records() { return owner_; }
  // When the earliest paced presence diff is due (INT64_MAX: none): the loop wakes for it.
  [[nodiscard]] int64_t next_diff_due_ms() const { return owner_.next_diff_due_ms(); }

 private:
  void note_remote_refused(const std::string& room, size_t refused);
  [[nodiscard]] bool cluster() const { return !config_.cluster_url.empty(); }
  [[nodiscard]] unsigned link() const { return config_.effective_shards(); }
  // Starts what a record needs before its joins are answered (store load, cluster sync). True
  // when the room is ready now.
  bool prepare(OwnedRoom& record, const std::string& room);
  // The joins of this turn, room by room: one presence_state per room shared by all its joiners
  // (owner_presence.cpp).
  void answer_turn_joins();
  void answer_join(const OwnedRoom& room, JoinAccepted& accepted,
                   std::optional<StoreCatchup>& catchup, const JoinRoom& join,
                   PresenceStateFrames& frames);
  void refuse_join(JoinRoom&& j, std::string reason);  // answered on the member shard
  // Answers a publish (socket or API) and settles its Idempotency-Key.
  void ack(const Publish& origin, bool ok, int64_t id, std::string reason);
  // The owner's part of a publish: a loaded record (or Redis) orders it.
  void order_publish(Publish&& m);
  // ---- owner_api.cpp: the server API's publishes and moderation
  // An API publish's Idempotency-Key, and the record of a room not in use (loaded first). True
  // when it took the publish (answered or queued).
  bool hold_api_publish(Publish& m);
  void retry_waiting_publishes(OwnedRoom& room, bool loaded);
  // delete_msg passed storage's check (author or moderator, target not deleted): order it.
  void on_delete_checked(StoreAppendDone&& d);
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
  // read_state_owner.cpp
  void push_read_state(const MarkRead& origin, int64_t last_read_id);
  void load_read_state_with_join(const JoinRoom& m, const OwnedRoom& room, JoinAccepted& accepted,
                                 std::optional<StoreCatchup>& catchup);

  // answer_turn_joins' working space, reused every turn instead of allocated per room.
  struct TurnBuffers {
    std::vector<JoinAccepted> accepted;
    std::vector<std::optional<StoreCatchup>> catchups;
    std::vector<size_t> recorded;
    proto::PresenceStateView view;
    std::string scratch;  // the encoded state (PresenceStateFrames)
    void release_if_large();
  };

  const ServerConfig& config_;
  OutboundPort& out_;
  FrameEncoder& encoder_;
  ShardMetrics& metrics_;
  RoomOwner owner_;
  IdempotencyTable idempotency_;  // the server API's Idempotency-Keys of the rooms owned here
  // Rooms that may have become unused this turn: dropped at the end of the turn, after the
  // presence diffs they still owe are flushed.
  std::vector<std::string> maybe_unused_;
  TurnBuffers turn_;
  int64_t next_prune_ms_ = 0;  // once a second: per-user join budgets full again are dropped
};

}  // namespace rtchat::server
