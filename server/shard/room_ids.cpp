#include "server/shard/room_ids.h"

namespace rtchat::server {

bool is_valid_room_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  bool only_dots = true;
  for (char ch : id) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-';
    if (!ok) return false;
    only_dots = only_dots && ch == '.';
  }
  // "." and ".." are path segments to every URL resolver and proxy: /api/rooms/../messages
  // would never reach the room.
  return !only_dots;
}

}  // namespace rtchat::server
