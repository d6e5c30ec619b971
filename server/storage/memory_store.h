// An in-process implementation of Store: each room's log is a deque of messages in id order.
// Same contract as SqliteStore (tests/server/memory_store_test.cpp runs one suite against both),
// nothing survives the process. For benchmarks (storage cost without disk or SQLite) and to show
// that the storage thread and the shards take any Store.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
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
  [[nodiscard]] bool find_message(std::string_view room, int64_t id, proto::ChatMessage& out,
                                  bool& found) override;
  [[nodiscard]] bool room_exists(std::string_view room) override;
  [[nodiscard]] bool room_floors(std::string_view after_room, int limit,
                                 std::vector<std::pair<std::string, int64_t>>& out) override;
  int64_t apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) override;
  [[nodiscard]] bool mark_read(std::span<ReadMark> marks, std::string& error) override;
  [[nodiscard]] bool read_state(std::string_view user_id, std::string_view room, int64_t upto_id,
                                int max_unread, int64_t& last_read_id, int& unread) override;

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
  // Orders (user id, room) keys; transparent, so a lookup by two views allocates nothing.
  struct ReadKeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  // (user id, room) -> last read id.
  std::map<std::pair<std::string, std::string>, int64_t, ReadKeyLess> read_marks_;
};

}  // namespace rtchat::server
