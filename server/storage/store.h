// The history store's contract: a durable, ordered message log per room. The storage thread owns
// the one Store instance; shards never call it (docs/architecture.md).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/messages.h"

namespace rtchat::server {

// One user's read position in one room (docs/protocol.md "Read state"): the highest message id
// the user has seen there. Stored per (user, room) and never moves back.
struct ReadMark {
  std::string user_id;
  std::string room;
  int64_t last_read_id = 0;
};

// The join reply's "unread" counts at most this many messages (the UI shows "99+" above 99).
inline constexpr int kMaxUnreadCount = 100;

// Thread-confined: created, used and destroyed on the storage thread. Every method reports failure
// as a value (false, -1, or an error string) and never throws once the store is open. Out
// parameters are replaced, not appended to. A PostgreSQL implementation can be added later.
class Store {
 public:
  static constexpr int kMaxPageLimit = 200;  // the protocol's history limit (docs/protocol.md)

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  Store(Store&&) = delete;
  Store& operator=(Store&&) = delete;
  virtual ~Store() = default;

  // Appends all messages in ONE transaction (group commit). All or nothing: on failure (disk full,
  // I/O error, a (room, id) already stored) nothing is stored and error holds a short reason. The
  // caller keeps each room's ids increasing across calls; the store never reorders. A delete event
  // (delete_target != 0) is stored like a message and, in the same transaction, turns its target
  // into a tombstone (body erased, deleted set); a target already gone (retention) is no error.
  [[nodiscard]] virtual bool append(std::span<const proto::ChatMessage> batch,
                                    std::string& error) = 0;

  // The newest messages with id < before_id (nullopt = the latest), returned OLDEST FIRST, at most
  // limit (clamped to 1..kMaxPageLimit). has_more is true iff older messages exist. Delete
  // events are not listed (their targets show as tombstones).
  [[nodiscard]] virtual bool page(std::string_view room, std::optional<int64_t> before_id,
                                  int limit, std::vector<proto::ChatMessage>& out,
                                  bool& has_more) = 0;

  // Messages with after_id < id <= upto_id, oldest first, at most max_count (<= 0 gives none).
  // Delete events included: a catch-up replays them in order.
  [[nodiscard]] virtual bool range(std::string_view room, int64_t after_id, int64_t upto_id,
                                   int max_count, std::vector<proto::ChatMessage>& out) = 0;

  // The room's highest stored id, 0 when it has none. An owner shard asks when it creates the
  // room's record (first join since start, or since the record was dropped) and resumes after it;
  // retention never removes a room's newest message, so ids are never reused.
  [[nodiscard]] virtual bool last_id(std::string_view room, int64_t& out) = 0;

  // After a Redis data loss (cluster mode): the rooms whose name sorts after after_room (byte
  // order; "" = from the first), each with its highest stored id, in name order, at most limit
  // (clamped to 1..kMaxFloorPage). A page: the caller asks again after the last room it got while
  // a page comes back full, so one call's cost and memory stay bounded however many rooms exist.
  static constexpr int kMaxFloorPage = 1024;
  [[nodiscard]] virtual bool room_floors(std::string_view after_room, int limit,
                                         std::vector<std::pair<std::string, int64_t>>& out) = 0;

  // The stored entry with this id (a message, a tombstone or a delete event): found is false when
  // there is none. For delete_msg's checks (who wrote it, is it already deleted).
  [[nodiscard]] virtual bool find_message(std::string_view room, int64_t id,
                                          proto::ChatMessage& out, bool& found) = 0;

  // True iff the room has at least one stored message (false on error too).
  [[nodiscard]] virtual bool room_exists(std::string_view room) = 0;

  // Retention: keeps at most max_per_room newest messages per room (0 = unlimited) and drops
  // messages whose ts is older than now_ms - max_age_ms (0 = unlimited). Only a prefix of each
  // room's log is removed (history never gets holes), and each room's newest message is kept
  // whatever its age so ids are never reused. Returns the rows deleted, or -1 on failure.
  virtual int64_t apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) = 0;

  // ---- read state (per user and room; docs/protocol.md "Read state")
  // Stores every mark in ONE transaction as max(stored, mark.last_read_id), so a position never
  // moves back; on success each mark's last_read_id is replaced by the value now stored. All or
  // nothing, like append.
  [[nodiscard]] virtual bool mark_read(std::span<ReadMark> marks, std::string& error) = 0;
  // The user's stored position in room (0 = never marked) and the number of messages with
  // last_read_id < id <= upto_id, counted up to max_unread (the join reply's "unread").
  [[nodiscard]] virtual bool read_state(std::string_view user_id, std::string_view room,
                                        int64_t upto_id, int max_unread, int64_t& last_read_id,
                                        int& unread) = 0;
};

}  // namespace rtchat::server
