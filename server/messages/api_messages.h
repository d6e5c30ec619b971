// The server API's cross-shard messages (docs/protocol.md "Server API"; shard/server_api.cpp and
// owner_api.cpp): the HTTP connection's shard asks, the shards that hold the data answer it back,
// by value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/messages.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {

// HTTP shard -> the room's owner: its presence.
struct ApiPresenceQuery {
  std::string room;
  ConnRef conn;
};
// Owner -> HTTP shard.
struct ApiPresenceAnswer {
  ConnRef conn;
  proto::PresenceEntries entries;
};
// HTTP shard -> every shard (scatter): the rooms in use it owns with members, whose id starts with
// prefix and (when allowed is set: a user's rooms claim) that the claim admits; at most limit + 1.
struct ApiRoomsQuery {
  ConnRef conn;
  uint64_t query_id = 0;
  std::string prefix;
  size_t limit = 0;
  std::optional<std::vector<std::string>> allowed;
};
// Each shard -> the HTTP shard (gather): (room id, users present).
struct ApiRoomsAnswer {
  ConnRef conn;
  uint64_t query_id = 0;
  std::vector<std::pair<std::string, uint32_t>> rooms;
};
// HTTP shard (or the cluster link, from another node) -> every shard: close every socket of the
// user with 4010. To the link: tell the other nodes (a small pub/sub message on rtchat:ctl).
struct DisconnectUser {
  std::string user_id;
  std::string reason;  // the close reason, already "disconnected by server[: ...]"
};

}  // namespace rtchat::server
