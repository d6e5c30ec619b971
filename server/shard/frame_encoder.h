// Encodes one outbound frame in a connection's wire format through one scratch buffer, reused for
// every frame of the shard (one per shard thread, shared by the session and both room sides).
#pragma once

#include <string>
#include <utility>

#include "core/shared_frame.h"
#include "server/messages/room_messages.h"
#include "server/net/ws_frame.h"

namespace rtchat::server {

class FrameEncoder {
 public:
  // json(out) and binary(out) append the payload of each format; only the one asked for runs.
  template <typename Json, typename Binary>
  core::SharedFrame encode(WireFormat format, Json&& json, Binary&& binary) {
    scratch_.clear();
    if (format == WireFormat::Binary) {
      binary(scratch_);
      return make_ws_frame(WsOpcode::Binary, scratch_);
    }
    json(scratch_);
    return make_ws_frame(WsOpcode::Text, scratch_);
  }
  // A room broadcast's frames, each encoded once: JSON always, binary only when the room has
  // binary members.
  template <typename Json, typename Binary>
  void encode_broadcast(RoomBroadcast& b, uint32_t binary_members, Json&& json, Binary&& binary) {
    b.json = encode(WireFormat::Json, json, binary);
    if (binary_members > 0) b.binary = encode(WireFormat::Binary, json, binary);
  }

 private:
  std::string scratch_;
};

inline std::string topic_of(std::string_view room) {
  std::string t = "room:";
  t += room;
  return t;
}

}  // namespace rtchat::server
