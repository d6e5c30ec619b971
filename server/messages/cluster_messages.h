// Cluster mode (--cluster): owner shard <-> cluster link thread (server/cluster/cluster_link.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/messages.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {

// ---- cluster mode (--cluster): owner shard <-> cluster link thread
// (server/cluster/cluster_link.h). The link is wired as one more mailbox peer of every shard (index
// = shard count), so these travel in the same SPSC mailboxes as the shard messages.

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

}  // namespace rtchat::server
