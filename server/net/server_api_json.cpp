#include "server/net/server_api_json.h"

#include <simdjson.h>

#include <algorithm>

#include "proto/display_text.h"
#include "proto/phoenix_codec.h"
#include "server/net/close_reasons.h"

namespace rtchat::server {
namespace {

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// A string member: absent leaves out untouched; any other type fails.
bool read_optional_string(simdjson::dom::object obj, std::string_view key, std::string& out) {
  auto field = obj[key];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  std::string_view v;
  if (field.get_string().get(v)) return false;
  out.assign(v);
  return true;
}

bool parse_object(std::string_view json, simdjson::dom::object& obj) {
  simdjson::dom::element doc;
  return !thread_parser().parse(json.data(), json.size()).get(doc) && !doc.get_object().get(obj);
}

}  // namespace

std::optional<ApiPublishRequest> parse_api_publish(std::string_view json, std::string& error) {
  simdjson::dom::object obj;
  if (!parse_object(json, obj)) {
    error = "expected a JSON object {\"body\": \"...\"}";
    return std::nullopt;
  }
  ApiPublishRequest r;
  std::string_view body;
  if (obj["body"].get_string().get(body)) {
    error = "body must be a string";
    return std::nullopt;
  }
  r.body.assign(body);
  if (!read_optional_string(obj, "user_id", r.user_id) ||
      !read_optional_string(obj, "name", r.name)) {
    error = "user_id and name must be strings";
    return std::nullopt;
  }
  return r;
}

std::optional<std::string> parse_disconnect_reason(std::string_view json) {
  bool blank = std::all_of(json.begin(), json.end(),
                           [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
  if (blank) return std::string();
  simdjson::dom::object obj;
  std::string reason;
  if (!parse_object(json, obj) || !read_optional_string(obj, "reason", reason)) {
    return std::nullopt;
  }
  return reason;
}

void encode_presence_answer(const proto::PresenceEntries& entries, std::string& out) {
  size_t devices = 0;
  for (const auto& [user, metas] : entries) devices += metas.size();
  out.append("{\"presence\":");
  proto::phoenix::encode_presence_object(entries, out);
  out.append(",\"users\":");
  out.append(std::to_string(entries.size()));
  out.append(",\"devices\":");
  out.append(std::to_string(devices));
  out.push_back('}');
}

void keep_first_rooms(std::vector<RoomMembers>& rooms, size_t limit, bool& has_more) {
  std::sort(rooms.begin(), rooms.end(),
            [](const RoomMembers& a, const RoomMembers& b) { return a.first < b.first; });
  has_more = rooms.size() > limit;
  if (has_more) rooms.resize(limit);
}

void encode_rooms_answer(const std::vector<RoomMembers>& rooms, bool has_more, std::string& out) {
  out.append("{\"rooms\":[");
  for (size_t i = 0; i < rooms.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append("{\"id\":");
    proto::phoenix::append_json_string(out, rooms[i].first);
    out.append(",\"members\":");
    out.append(std::to_string(rooms[i].second));
    out.push_back('}');
  }
  out.append("],\"has_more\":");
  out.append(has_more ? "true" : "false");
  out.push_back('}');
}

std::string disconnect_close_reason(std::string_view reason) {
  constexpr size_t kMaxCloseReasonBytes = 123;  // RFC 6455 5.5: 125 minus the 2-byte code
  std::string out(close_reason::kDisconnected);
  if (reason.empty()) return out;
  out.append(": ");
  const size_t room = kMaxCloseReasonBytes - out.size();
  out.append(proto::utf8_prefix(reason, room));
  return out;
}

}  // namespace rtchat::server
