// An in-process implementation of Store: each room's log is a deque of messages in id order.
// Same contract as SqliteStore (tests/server/memory_store_test.cpp runs one suite against both),
// nothing survives the process. For benchmarks (storage cost without disk or SQLite) and to show
// that the storage thread and the shards take any Store.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/storage/store.h"

namespace rtchat::server {

std::unique_ptr<Store> open_memory_store();

// Thread-confined like every Store. Memory grows with history unless retention trims it.
class MemoryStore final : public Store {
 public:
  [[nodiscard]] bool append(std::span<const proto::ChatMessage> batch, std::string& error) override;
  [[nodiscard]] bool page(std::string_view room, std::optional<int64_t> before_id, int limit,
                          std::vector<proto::ChatMessage>& out, bool& has_more) override;
  [[nodiscard]] bool range(std::string_view room, int64_t after_id, int64_t upto_id, int max_count,
                           std::vector<proto::ChatMessage>& out) override;
  [[nodiscard]] bool last_id(std::string_view room, int64_t& out) override;
  [[nodiscard]] bool room_exists(std::string_view room) override;
  int64_t apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) override;

 private:
  using Log = std::deque<proto::ChatMessage>;  // sorted by id, no duplicates

  // Heterogeneous lookup: find(string_view) without building a std::string per call.
  struct RoomHash {
    using is_transparent = void;
    size_t operator()(std::string_view room) const { return std::hash<std::string_view>{}(room); }
  };

  const Log* find(std::string_view room) const;
  // True iff every message of batch is new: not stored yet and not twice in the batch.
  [[nodiscard]] bool all_new(std::span<const proto::ChatMessage> batch) const;
  // Oldest id to keep under the retention limits; 0 = keep everything.
  static int64_t retention_boundary(const Log& log, int64_t max_per_room, int64_t max_age_ms,
                                    int64_t now_ms);

  std::unordered_map<std::string, Log, RoomHash, std::equal_to<>> rooms_;
};

}  // namespace rtchat::server
