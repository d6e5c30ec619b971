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
  // caller keeps each room's ids increasing across calls; the store never reorders.
  [[nodiscard]] virtual bool append(std::span<const proto::ChatMessage> batch,
                                    std::string& error) = 0;

  // The newest messages with id < before_id (nullopt = the latest), returned OLDEST FIRST, at most
  // limit (clamped to 1..kMaxPageLimit). has_more is true iff older messages exist.
  [[nodiscard]] virtual bool page(std::string_view room, std::optional<int64_t> before_id,
                                  int limit, std::vector<proto::ChatMessage>& out,
                                  bool& has_more) = 0;

  // Messages with after_id < id <= upto_id, oldest first, at most max_count (<= 0 gives none).
  [[nodiscard]] virtual bool range(std::string_view room, int64_t after_id, int64_t upto_id,
                                   int max_count, std::vector<proto::ChatMessage>& out) = 0;

  // The room's highest stored id, 0 when it has none. An owner shard asks when it creates the
  // room's record (first join since start, or since the record was dropped) and resumes after it;
  // retention never removes a room's newest message, so ids are never reused.
  [[nodiscard]] virtual bool last_id(std::string_view room, int64_t& out) = 0;

  // True iff the room has at least one stored message (false on error too).
  [[nodiscard]] virtual bool room_exists(std::string_view room) = 0;

  // Retention: keeps at most max_per_room newest messages per room (0 = unlimited) and drops
  // messages whose ts is older than now_ms - max_age_ms (0 = unlimited). Only a prefix of each
  // room's log is removed (history never gets holes), and each room's newest message is kept
  // whatever its age so ids are never reused. Returns the rows deleted, or -1 on failure.
  virtual int64_t apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) = 0;
};

}  // namespace rtchat::server
