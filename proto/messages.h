// The protocol's logical messages, independent of the wire format. Both codecs (Phoenix v2
// JSON in phoenix_codec.h and FlatBuffers in binary_codec.h) decode into and encode from these
// types, so the two formats carry exactly the same meaning (shared/reference/chat-events.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/presence_meta.h"

namespace rtchat::proto {

// ---------------------------------------------------------------- client -> server

enum class ClientEvent : uint8_t {
  Heartbeat,  // topic "phoenix"
  Join,       // phx_join
  Leave,      // phx_leave
  NewMsg,     // new_msg {"body"}
  History,    // history {"before_id", "limit"}
  Typing,     // typing {}
  MarkRead,   // mark_read {"id"} (a room topic)
  Refresh,    // refresh {"token"} (topic "phoenix")
  DeleteMsg,  // delete_msg {"id"} (moderation)
  Other,      // any other event name: the server answers with an error reply
};

// A decoded client frame. Refs are opaque strings, echoed byte for byte; nullopt = JSON null.
// Fields not used by an event stay at their defaults. Payload fields that were present but of the
// wrong type make payload_valid false (the server replies "invalid params"/"invalid body").
struct ClientMessage {
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  ClientEvent event = ClientEvent::Other;
  std::string event_name;  // the raw event string (for Other, and for error replies)
  bool payload_valid = true;

  // Join
  std::optional<int64_t> last_seen_id;
  std::optional<std::string> device;
  // NewMsg
  std::string body;
  // History
  std::optional<int64_t> before_id;
  int64_t limit = 50;
  // MarkRead (nullopt: missing or not an integer, an invalid payload)
  std::optional<int64_t> read_id;
  // Refresh
  std::string token;
  // DeleteMsg: the message id (a missing or non-integer id makes payload_valid false)
  int64_t message_id = 0;
};

// Why a client frame could not be decoded at all (the connection is then closed with 1007).
// A message's join_ref and ref are echoed in replies and kept per joined channel: longer ones are
// refused as a malformed envelope (phoenix.js sends short decimal counters).
inline constexpr size_t kMaxRefBytes = 64;

enum class DecodeError : uint8_t {
  None,
  NotJson,           // not parseable / invalid UTF-8
  NotEnvelope,       // not a [join_ref, ref, topic, event, payload] array of the right types
  PayloadNotObject,  // payload is not a JSON object
  BadBuffer,         // FlatBuffers verifier failed
};

// ---------------------------------------------------------------- server -> client

struct ChatMessage {
  int64_t id = 0;
  std::string room;  // the room id (without "room:")
  std::string user_id;
  std::string user;  // display name
  std::string body;
  int64_t ts = 0;  // ms since the Unix epoch, UTC
  // Moderation (docs/protocol.md "Moderation"). A tombstone: the message was deleted and its
  // body erased; it still holds its id, author and time.
  bool deleted = false;
  // Non-zero: this is not a chat message but a delete event, ordered like one, that tombstones
  // message delete_target (user_id is who deleted it). History pages never list delete events;
  // catch-up replays them as msg_deleted.
  int64_t delete_target = 0;
  friend bool operator==(const ChatMessage&, const ChatMessage&) = default;
};

// user id -> metas, in a stable order (sorted by user id when encoded from a map).
using PresenceEntries = std::vector<std::pair<std::string, std::vector<PresenceMeta>>>;

// A presence state borrowed from where its owner keeps it, so a state can be encoded without
// copying a string: per user its key and its metas. The metas may be members of larger records
// (a room's per-connection records), `stride` bytes apart.
class MetaRange {
 public:
  MetaRange() = default;
  MetaRange(const std::vector<PresenceMeta>& metas)  // NOLINT(google-explicit-constructor)
      : first_(reinterpret_cast<const std::byte*>(metas.data())),
        size_(metas.size()),
        stride_(sizeof(PresenceMeta)) {}
  // n records from `records` on (contiguous), each with its meta in member `meta`.
  template <typename Record>
  MetaRange(const Record* records, size_t n, PresenceMeta Record::*meta)
      : first_(n == 0 ? nullptr : reinterpret_cast<const std::byte*>(&(records->*meta))),
        size_(n),
        stride_(sizeof(Record)) {}

  [[nodiscard]] size_t size() const { return size_; }
  const PresenceMeta& operator[](size_t i) const {
    return *reinterpret_cast<const PresenceMeta*>(first_ + i * stride_);
  }

 private:
  const std::byte* first_ = nullptr;
  size_t size_ = 0;
  size_t stride_ = sizeof(PresenceMeta);
};

struct PresenceEntryView {
  std::string_view key;
  MetaRange metas;
};
using PresenceStateView = std::vector<PresenceEntryView>;

// One entry's user id and metas, alike for owned entries and a view (the codecs take either).
inline std::string_view entry_key(const PresenceEntries::value_type& e) { return e.first; }
inline const std::vector<PresenceMeta>& entry_metas(const PresenceEntries::value_type& e) {
  return e.second;
}
inline std::string_view entry_key(const PresenceEntryView& e) { return e.key; }
inline const MetaRange& entry_metas(const PresenceEntryView& e) { return e.metas; }

inline PresenceStateView view_of(const PresenceEntries& entries) {
  PresenceStateView view;
  view.reserve(entries.size());
  for (const auto& [key, metas] : entries) view.push_back({key, metas});
  return view;
}

struct PresenceDiff {
  PresenceEntries joins;
  PresenceEntries leaves;
};

enum class ReplyStatus : uint8_t { Ok, Error };

// The response object of a phx_reply. Exactly one kind is meaningful.
struct ReplyBody {
  enum class Kind : uint8_t {
    Empty,
    Error,
    Join,
    Publish,
    History,
    MarkRead,  // {"last_read_id": M}
    Refresh,   // {"exp": E}
  } kind = Kind::Empty;
  std::string reason;             // Error: {"reason": ...}
  std::optional<bool> recovered;  // Join: {} or {"recovered": bool}
  // Join: with "last_read_id" and "unread" when the read state was loaded; MarkRead.
  std::optional<int64_t> last_read_id;
  int64_t unread = 0;                 // Join
  int64_t exp = 0;                    // Refresh
  int64_t id = 0;                     // Publish: {"id": N}
  std::vector<ChatMessage> messages;  // History: {"messages": [...], "has_more": bool}
  bool has_more = false;
};

struct Reply {
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  ReplyStatus status = ReplyStatus::Ok;
  ReplyBody body;
};

// A decoded server frame, for clients (load tool, tests, the C++ client library).
enum class ServerEvent : uint8_t {
  Reply,          // phx_reply
  NewMsg,         // new_msg broadcast (or catch-up push)
  PresenceState,  // presence_state push
  PresenceDiff,   // presence_diff broadcast
  Close,          // phx_close
  Error,          // phx_error
  Typing,         // typing broadcast {"user_id","user"}
  ReadState,      // read_state push {"last_read_id"}
  TokenExpiring,  // token_expiring push {"exp"} (topic "phoenix")
  MsgDeleted,     // msg_deleted broadcast {"id","event_id","deleted_by"} (moderation)
  Other,
};

struct ServerMessage {
  ServerEvent event = ServerEvent::Other;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  std::string event_name;
  Reply reply;               // Reply (its join_ref/ref/topic mirror the fields above)
  ChatMessage message;       // NewMsg
  PresenceEntries state;     // PresenceState
  PresenceDiff diff;         // PresenceDiff
  std::string user_id;       // Typing
  std::string user;          // Typing
  int64_t last_read_id = 0;  // ReadState
  int64_t exp = 0;           // TokenExpiring
  // MsgDeleted: the deleted id is message.id, the delete event's id deleted_event_id, and who
  // deleted it user_id.
  int64_t deleted_event_id = 0;
};

}  // namespace rtchat::proto
