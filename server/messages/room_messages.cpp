#include "server/messages/room_messages.h"

#include <functional>

namespace rtchat::server {

unsigned owner_shard(std::string_view room, unsigned shards) {
  return static_cast<unsigned>(std::hash<std::string_view>{}(room) % shards);
}

}  // namespace rtchat::server
