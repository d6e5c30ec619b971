// The server API's JSON bodies (docs/protocol.md "Server API"): requests parsed, answers encoded.
// Pure functions; the routes themselves are in the shard (shard/server_api.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/messages.h"

namespace rtchat::server {

// POST /api/rooms/<id>/messages {"body", "user_id"?, "name"?}.
struct ApiPublishRequest {
  std::string body;
  std::string user_id;  // "" = absent (the server's default bot identity)
  std::string name;     // "" = absent
};
// nullopt with error set on anything but a JSON object whose body is a string and whose
// user_id/name, when present, are strings. Limits (lengths) are the caller's.
std::optional<ApiPublishRequest> parse_api_publish(std::string_view json, std::string& error);

// POST /api/users/<id>/disconnect {"reason"?}: an empty body is no reason. nullopt on a body that
// is not such an object.
std::optional<std::string> parse_disconnect_reason(std::string_view json);

// {"presence": {user: {"metas": [...]}}, "users": U, "devices": D}
void encode_presence_answer(const proto::PresenceEntries& entries, std::string& out);

// One active room of GET /api/rooms: its id and the users present (distinct user ids, on this
// node and the others it knows of).
using RoomMembers = std::pair<std::string, uint32_t>;
// Sorts by id and keeps the first `limit`; has_more says whether any was cut.
void keep_first_rooms(std::vector<RoomMembers>& rooms, size_t limit, bool& has_more);
// {"rooms": [{"id", "members"}], "has_more": bool}
void encode_rooms_answer(const std::vector<RoomMembers>& rooms, bool has_more, std::string& out);

// The 4010 close reason: "disconnected by server", then ": <reason>" cut on a UTF-8 boundary so
// the whole fits a close frame's 123 bytes.
std::string disconnect_close_reason(std::string_view reason);

}  // namespace rtchat::server
