// The values that cross threads (shard <-> shard, shard <-> storage). Each owns everything it
// refers to and holds no pointer into another thread's objects (STYLE.md section 3): a
// connection is named by ConnRef (its shard, slot and generation), never by a pointer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/shared_frame.h"
#include "proto/messages.h"

namespace rtchat::server {

enum class WireFormat : uint8_t { Json, Binary };

struct ConnRef {
  uint32_t shard = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;
  friend bool operator==(const ConnRef&, const ConnRef&) = default;
};

// Identifies one join of one connection: assigned by the connection's shard from a counter of
// the connection, carried by the join and by every answer to it (JoinAccepted, StoreCatchup,
// CatchupReady), and compared with the channel's, so that the answers of a join that a later
// join of the same topic replaced are recognised as stale. The client's join_ref cannot do this:
// it is optional, binary clients may omit it, and a client may reuse it.
using JoinId = uint64_t;

// Member shard -> owner shard: a connection asks to join a room.
struct JoinRoom {
  std::string room;  // room id, without "room:"
  ConnRef conn;
  JoinId join_id = 0;
  std::optional<std::string> join_ref;
  std::string user_id;
  std::string user_name;
  std::string device;
  WireFormat format = WireFormat::Json;
  std::optional<int64_t> last_seen_id;
};

// Owner -> member shard: the join is recorded (reply ok, push the presence state) or refused.
struct JoinAccepted {
  std::string room;
  ConnRef conn;
  JoinId join_id = 0;
  std::optional<std::string> join_ref;
  // Non-empty: the owner refused the join with this reason (nothing was recorded); the member
  // replies with the error and drops the channel.
  std::string refused;
  std::optional<bool> recovered;     // set when the join carried last_seen_id
  bool catchup_pending = false;      // a CatchupReady follows; hold live frames until then
  core::SharedFrame presence_state;  // encoded in the connection's format, for this join_ref
  // JSON: the state object, shared by every joiner of the room in the owner's turn; the frame is
  // presence_state (its head) then this. Empty: presence_state is the whole frame.
  core::SharedFrame presence_state_tail;
};

// Member shard -> owner: a connection left the room (leave, rejoin, close, death).
struct LeaveRoom {
  std::string room;
  ConnRef conn;
};

// Member shard -> owner: a new_msg push to order, persist and fan out.
struct Publish {
  std::string room;
  ConnRef conn;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string user_id;
  std::string user_name;
  std::string body;
  int64_t received_us = 0;  // monotonic receive time, for the publish-to-deliver histogram
};

// Member shard -> owner: an ephemeral typing event for the room's other members.
struct Typing {
  std::string room;
  ConnRef conn;
  std::string user_id;
  std::string user_name;
};

// Owner -> every member shard: frames encoded once, shared by all recipients.
struct RoomBroadcast {
  std::string room;
  int64_t message_id = 0;  // 0 for presence diffs and typing (not part of the message order)
  core::SharedFrame json;
  core::SharedFrame binary;       // empty when the room has no binary member
  std::optional<ConnRef> except;  // typing: not echoed to its sender
  int64_t published_us = 0;
};

// Owner -> origin shard: the publish is durable (ok) or failed.
struct PublishAck {
  std::string room;
  ConnRef conn;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  bool ok = false;
  int64_t id = 0;
  std::string reason;
};

// Owner -> member shard: what a recovering join missed, in id order.
struct CatchupReady {
  std::string room;
  ConnRef conn;
  JoinId join_id = 0;  // the join it answers
  bool ok = false;     // false: storage failed; the join gets an error and the client retries
  int64_t upto_id = 0;
  std::vector<proto::ChatMessage> messages;
  bool too_large = false;  // over the catch-up budget: answered recovered: false
};

// ---- cluster mode (--cluster): owner shard <-> cluster link thread (server/cluster_link.h).
// The link is wired as one more mailbox peer of every shard (index = shard count), so these travel
// in the same SPSC mailboxes as the shard messages.

// ConnRef::shard of an event that came from another node (a typing relayed by the link).
inline constexpr uint32_t kRemoteNodeShard = 0xFFFFFFFDu;

// One presence meta of a user, as it crosses nodes.
struct ClusterMeta {
  std::string node;  // node id of the connection's node (empty on the way out: this node)
  std::string user_id;
  proto::PresenceMeta meta;
};

// Owner -> link: order this message cluster-wide (Redis INCR + XADD + PUBLISH).
struct ClusterPublish {
  proto::ChatMessage message;  // id 0: Redis assigns it
  Publish origin;
  int64_t floor_id = 0;  // the owner's last delivered id: Redis never hands out an id <= it
};
// Owner -> link: the room got its first local member (watch) or lost its last (unwatch).
struct ClusterWatch {
  std::string room;
  bool watch = true;
};
// Owner -> link: this node's presence changes in a room (published to the other nodes).
struct ClusterPresenceOut {
  std::string room;
  std::vector<ClusterMeta> joins;
  std::vector<ClusterMeta> leaves;
};
// Link -> owner: the room is subscribed and its baseline read (ok), or the cluster is down (!ok:
// the room runs local-only until the link resyncs it). remote replaces the room's remote metas.
struct ClusterRoomSynced {
  std::string room;
  bool ok = false;
  int64_t last_id = 0;
  std::vector<ClusterMeta> remote;
};
// Link -> owner: the room's next message in the cluster order (ids strictly increasing, once).
struct ClusterDeliver {
  proto::ChatMessage message;
};
// Link -> owner: the outcome of a ClusterPublish, sent after its ClusterDeliver.
struct ClusterPublishDone {
  Publish origin;
  bool ok = false;
  int64_t id = 0;
  std::string reason;
};
// Link -> owner: presence changes from another node.
struct ClusterPresenceIn {
  std::string room;
  std::vector<ClusterMeta> joins;
  std::vector<ClusterMeta> leaves;
};
// Link -> every shard: a node's liveness key expired; its metas leave every room.
struct ClusterNodeDown {
  std::string node;
};

using ShardMessage =
    std::variant<JoinRoom, JoinAccepted, LeaveRoom, Publish, Typing, RoomBroadcast, PublishAck,
                 CatchupReady, ClusterPublish, ClusterWatch, ClusterPresenceOut, ClusterRoomSynced,
                 ClusterDeliver, ClusterPublishDone, ClusterPresenceIn, ClusterNodeDown>;

// ---- shard <-> storage thread

struct StoreAppend {
  proto::ChatMessage message;
  // The publish to answer, echoed back so the owner needs no table of pending publishes. None
  // for a cluster node's own copy of a message Redis already ordered: nobody waits for it, and
  // storage sends no answer.
  std::optional<Publish> origin;
};
struct StoreCatchup {
  std::string room;
  ConnRef conn;
  JoinId join_id = 0;  // echoed into CatchupReady
  int64_t after_id = 0;
  int64_t upto_id = 0;
  int max_count = 0;
  // Past this estimate of JSON bytes the storage thread drops the messages and answers too_large
  // (0 = no budget): an oversized catch-up never leaves the storage thread.
  size_t max_bytes = 0;
};
// A history page for a connection (push) or an HTTP request (http = true).
struct StorePage {
  std::string room;
  ConnRef conn;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::optional<int64_t> before_id;
  int limit = 50;
  bool http = false;
};
// The owner created a room record: read the room's last stored id (its joins wait for it).
struct StoreLoadRoom {
  std::string room;
};
using StorageRequest = std::variant<StoreAppend, StoreCatchup, StorePage, StoreLoadRoom>;

struct StoreAppendDone {
  proto::ChatMessage message;
  Publish origin;
  bool ok = false;
  std::string error;
};
struct StoreCatchupDone {
  StoreCatchup request;
  bool ok = false;
  std::vector<proto::ChatMessage> messages;
  bool too_large = false;  // over request.max_bytes: messages dropped, the client pages history
};
struct StorePageDone {
  StorePage request;
  bool ok = false;
  bool room_exists = false;
  bool has_more = false;
  std::vector<proto::ChatMessage> messages;
};
struct StoreRoomLoaded {
  std::string room;
  bool ok = false;
  int64_t last_id = 0;
};
using StorageReply =
    std::variant<StoreAppendDone, StoreCatchupDone, StorePageDone, StoreRoomLoaded>;

static_assert(std::is_nothrow_move_constructible_v<ShardMessage>);
static_assert(std::is_nothrow_move_constructible_v<StorageRequest>);

}  // namespace rtchat::server
