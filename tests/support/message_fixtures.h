// Chat messages for store tests (SQLite, memory, and the contract suite that runs on both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/messages.h"

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

}  // namespace rtchat::testing
