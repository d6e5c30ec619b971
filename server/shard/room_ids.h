// Room ids and room topics ("room:<id>"), checked the same way by the HTTP history API and the
// WebSocket joins.
#pragma once

#include <string_view>

namespace rtchat::server {

inline constexpr std::string_view kRoomPrefix = "room:";

// 1..64 of [A-Za-z0-9_.-], not only dots.
bool is_valid_room_id(std::string_view id);

inline bool is_room_topic(std::string_view topic) {
  return topic.starts_with(kRoomPrefix) && is_valid_room_id(topic.substr(kRoomPrefix.size()));
}

}  // namespace rtchat::server
