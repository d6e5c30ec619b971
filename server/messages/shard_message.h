// What travels in a shard's mailboxes: room messages between shards and cluster messages between
// owner shards and the cluster link (wired as one more mailbox peer of every shard).
#pragma once

#include <type_traits>
#include <variant>

#include "server/messages/cluster_messages.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {

using ShardMessage =
    std::variant<JoinRoom, JoinAccepted, LeaveRoom, Publish, Typing, RoomBroadcast, PublishAck,
                 CatchupReady, ClusterPublish, ClusterWatch, ClusterPresenceOut, ClusterRoomSynced,
                 ClusterDeliver, ClusterPublishDone, ClusterPresenceIn, ClusterNodeDown>;

static_assert(std::is_nothrow_move_constructible_v<ShardMessage>);

}  // namespace rtchat::server
