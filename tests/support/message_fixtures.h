// Chat messages for store tests (SQLite, memory, and the contract suite that runs on both).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/messages.h"
#include "server/storage/store.h"

namespace rtchat::testing {

inline proto::ChatMessage make_message(const std::string& room, int64_t id,
                                       int64_t ts = 1'700'000'000'000) {
  return proto::ChatMessage{.id = id,
                            .room = room,
                            .user_id = "u" + std::to_string(id % 7),
                            .user = "User " + std::to_string(id % 7),
                            .body = "message " + std::to_string(id) + " in " + room,
                            .ts = ts};
}

inline std::vector<proto::ChatMessage> make_messages(const std::string& room, int64_t first,
                                                     int64_t last) {
  std::vector<proto::ChatMessage> out;
  for (int64_t id = first; id <= last; ++id) out.push_back(make_message(room, id));
  return out;
}

inline std::vector<int64_t> ids_of(const std::vector<proto::ChatMessage>& messages) {
  std::vector<int64_t> ids;
  for (const auto& m : messages) ids.push_back(m.id);
  return ids;
}

inline std::vector<int64_t> id_sequence(int64_t first, int64_t last) {
  std::vector<int64_t> ids;
  for (int64_t id = first; id <= last; ++id) ids.push_back(id);
  return ids;
}

// Store::last_id of each room, as (room, id) pairs (a failed read is a test failure).
inline std::vector<std::pair<std::string, int64_t>> last_ids_of(
    server::Store& store, const std::vector<std::string>& rooms) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& room : rooms) {
    int64_t id = -1;
    EXPECT_TRUE(store.last_id(room, id)) << room;
    out.emplace_back(room, id);
  }
  return out;
}

}  // namespace rtchat::testing
