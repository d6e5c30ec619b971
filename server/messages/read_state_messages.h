// Read state across devices (docs/protocol.md "Read state"; server/shard/read_state_owner.cpp,
// read_state_member.cpp): the values a mark_read turns into on its way member shard -> owner shard
// -> storage thread -> owner -> member shards. Like every cross-thread value they own what they
// refer to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/messages/room_messages.h"

namespace rtchat::server {

// Member shard -> owner: a mark_read push, ordered on the owner like a publish.
struct MarkRead {
  std::string room;
  ConnRef conn;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string user_id;
  int64_t id = 0;
};
// Owner -> origin shard: the mark is stored (ok {last_read_id}) or failed (reason).
struct MarkReadAck {
  std::string room;
  ConnRef conn;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  bool ok = false;
  int64_t last_read_id = 0;
  std::string reason;
};
// Owner -> a member shard: push read_state to these sockets of the user (its other devices).
struct ReadStatePush {
  std::string room;
  int64_t last_read_id = 0;
  std::vector<ConnRef> conns;
};

// Owner <-> cluster link (cluster mode): a mark stored on one node, for the user's sockets on the
// others. Out: published after the local commit. In: from another node; the receiving owner
// stores it (monotonic, no answer) and pushes read_state to every local socket of the user.
struct ClusterReadState {
  std::string room;
  std::string user_id;
  int64_t last_read_id = 0;
};

// Owner -> storage thread: stored in the storage thread's group commit, like an append.
struct StoreMarkRead {
  std::string user_id;
  int64_t id = 0;  // clamped by the owner to the room's last committed id
  MarkRead origin;
};
// Storage thread -> owner.
struct StoreMarkReadDone {
  MarkRead origin;
  bool ok = false;
  int64_t last_read_id = 0;  // the stored position: max(stored, origin's id)
  std::string error;
};

}  // namespace rtchat::server
