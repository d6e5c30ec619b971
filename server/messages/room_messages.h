// The values that cross threads between shards (member shard <-> room owner shard). Each owns
// everything it refers to and holds no pointer into another thread's objects:
// a connection is named by ConnRef (its shard, slot and generation), never by a pointer.
// Everything under server/ may include this folder; it depends only on core/ and proto/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  std::string user_id;  // the connection's token sub: the owner finds its records by it
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
  // delete_msg (docs/protocol.md "Moderation"): the id to delete (0 = a chat message) and whether
  // the sender's token may moderate the room (otherwise only its own messages). The storage
  // thread checks both against the stored message before the delete is ordered.
  int64_t delete_id = 0;
  bool may_moderate = false;
  bool delete_checked = false;  // storage's check passed: order it (shard/owner_api.cpp)
  // Server API (POST /api/rooms/<id>/messages): conn is the waiting HTTP connection; the
  // request's Idempotency-Key ("" = none), remembered by the owner (shard/idempotency_table.h).
  bool from_api = false;
  std::string idempotency_key{};
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
  bool from_api = false;  // answered as HTTP (201, or 200 for a replayed Idempotency-Key)
  bool replayed = false;  // the Idempotency-Key was seen: id is the first publish's
};

// Owner -> member shard: what a recovering join missed, in id order.
// A catch-up's messages, read-only and shared: every joiner recovering the same range in one
// storage batch (a mass rejoin after a restart) gets the same copy, read from the store once, and
// its member shard encodes them once per wire format (MemberRooms::catchup_frames). Like
// core::SharedFrame it crosses threads by refcount and is never written after it is made.
class SharedMessages {
 public:
  SharedMessages() = default;
  SharedMessages(std::vector<proto::ChatMessage> messages)  // NOLINT(google-explicit-constructor)
      : list_(messages.empty()
                  ? nullptr
                  : std::make_shared<const std::vector<proto::ChatMessage>>(std::move(messages))) {}

  [[nodiscard]] size_t size() const { return list_ ? list_->size() : 0; }
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] const proto::ChatMessage* begin() const { return list_ ? list_->data() : nullptr; }
  [[nodiscard]] const proto::ChatMessage* end() const { return begin() + size(); }
  const proto::ChatMessage& operator[](size_t i) const { return (*list_)[i]; }
  // Two answers share their messages (not merely equal ones).
  [[nodiscard]] bool same_as(const SharedMessages& other) const {
    return list_ != nullptr && list_ == other.list_;
  }

 private:
  std::shared_ptr<const std::vector<proto::ChatMessage>> list_;
};

struct CatchupReady {
  std::string room;
  ConnRef conn;
  JoinId join_id = 0;  // the join it answers
  bool ok = false;     // false: storage failed; the join gets an error and the client retries
  int64_t upto_id = 0;
  SharedMessages messages;
  bool too_large = false;  // over the catch-up budget: answered recovered: false
  bool recovering = true;  // false: only the read state was loaded; recovered is the answer
  std::optional<bool> recovered{};
  std::optional<int64_t> last_read_id{};  // the join reply's read state, when it was loaded
  int unread = 0;
};

// The shard that owns a room (orders, persists and fans out its messages): a stable hash of the
// room id, so every shard and the cluster link agree without asking anyone.
[[nodiscard]] unsigned owner_shard(std::string_view room, unsigned shards);

}  // namespace rtchat::server
