// Shard <-> storage thread (server/storage/storage_thread.h): requests and their answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "proto/messages.h"
#include "server/messages/read_state_messages.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {

// ---- shard <-> storage thread

struct StoreAppend {
  proto::ChatMessage message;
  // The publish to answer, echoed back so the owner needs no table of pending publishes. None
  // for a cluster node's own copy of a message Redis already ordered: nobody waits for it, and
  // storage sends no answer.
  std::optional<Publish> origin;
  // delete_msg: only check the delete against the store (answered like an append with checked
  // set, nothing stored); the owner then orders it (shard/owner_api.cpp).
  bool check_only = false;
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
  // False: the join does not recover through this trip (max_count 0); it only loads the read
  // state below, and recovered is the reply's answer (nullopt: the join had no last_seen_id).
  bool recovering = true;
  std::optional<bool> recovered{};
  // Set: the join reply's read state of this user (last_read_id, unread up to upto_id) is read
  // in the same trip (docs/protocol.md "Read state").
  std::optional<std::string> read_state_of{};
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
using StorageRequest =
    std::variant<StoreAppend, StoreCatchup, StorePage, StoreLoadRoom, StoreMarkRead>;

struct StoreAppendDone {
  proto::ChatMessage message;
  Publish origin;
  bool ok = false;
  std::string error;
  // A delete the storage thread refused (not_found, not_allowed): the reply's reason; nothing
  // was stored.
  std::string refused{};
  bool checked = false;  // the answer to a check_only append (nothing was stored)
};
struct StoreCatchupDone {
  StoreCatchup request;
  bool ok = false;
  SharedMessages messages;
  // Over request.max_bytes, or not every id of the range could be read (trimmed or lost, e.g. a
  // Redis that lost data on a node without a local copy): messages dropped, the join answers
  // recovered: false and the client pages history.
  bool too_large = false;
  int64_t last_read_id = 0;  // request.read_state_of's position (0 = never marked)
  int unread = 0;
  // The read state could not be read: the join is answered without it (it is optional in the
  // reply), not refused for it.
  bool read_state_ok = true;
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
using StorageReply = std::variant<StoreAppendDone, StoreCatchupDone, StorePageDone, StoreRoomLoaded,
                                  StoreMarkReadDone>;

static_assert(std::is_nothrow_move_constructible_v<StorageRequest>);

// ---- cluster link <-> storage thread, on a pair of mailboxes of their own (the shards' variants
// stay as they are). After a Redis data loss the link raises, on the master that lost its data,
// the sequence of every room this node's store knows (server/cluster/cluster_link_floors.cpp):
// one page of rooms, after after_room, each with its newest stored id (Store::room_floors).
struct StoreRoomFloors {
  std::string after_room;
  int limit = 0;
};
struct StoreRoomFloorsDone {
  StoreRoomFloors request;
  bool ok = false;
  std::vector<std::pair<std::string, int64_t>> floors;  // room, newest stored id; in name order
};

}  // namespace rtchat::server
