// Phoenix Channels v2 JSON: [join_ref, ref, topic, event, payload] text frames, exactly as the
// official phoenix npm client speaks them (shared/reference/phoenix-channels-protocol.md).
// Pure functions: no I/O, no shards. Encoders append to `out` (callers reuse one buffer).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proto/messages.h"

namespace rtchat::proto::phoenix {

// ---- server side
// Decodes one client text frame (the bytes must already be valid UTF-8 or NotJson is returned).
// Never throws; any malformed input yields a DecodeError. Uses a thread-local simdjson parser.
[[nodiscard]] DecodeError decode_client(std::string_view text, ClientMessage& out);

// [join_ref, ref, topic, "phx_reply", {"status": ..., "response": ...}]
void encode_reply(const Reply& reply, std::string& out);
// [null, null, topic, "new_msg", {"id","room","user_id","user","body","ts"}] (a broadcast; the
// same bytes are used for catch-up pushes after a recovering join).
void encode_new_msg(std::string_view topic, const ChatMessage& msg, std::string& out);
// [join_ref, null, topic, "presence_state", {user: {"metas": [...]}, ...}]
void encode_presence_state(const std::optional<std::string>& join_ref, std::string_view topic,
                           const PresenceStateView& state, std::string& out);
inline void encode_presence_state(const std::optional<std::string>& join_ref,
                                  std::string_view topic, const PresenceEntries& state,
                                  std::string& out) {
  encode_presence_state(join_ref, topic, view_of(state), out);
}
// `"user":{"metas":[meta]}`: one user's entry of a presence_state object, for a state its owner
// keeps encoded and grows by appends.
void append_presence_entry(std::string& out, std::string_view key, const PresenceMeta& meta);

// [null, null, topic, "presence_diff", {"joins": {...}, "leaves": {...}}] (both keys always)
void encode_presence_diff(std::string_view topic, const PresenceDiff& diff, std::string& out);
// [join_ref, join_ref, topic, "phx_close", {}]
void encode_close(const std::optional<std::string>& join_ref, std::string_view topic,
                  std::string& out);
// [join_ref, join_ref, topic, "phx_error", {"reason": reason}]
void encode_channel_error(const std::optional<std::string>& join_ref, std::string_view topic,
                          std::string_view reason, std::string& out);
// [null, null, topic, "typing", {"user_id", "user"}]
void encode_typing(std::string_view topic, std::string_view user_id, std::string_view user,
                   std::string& out);
// [null, null, topic, "read_state", {"last_read_id": M}] (the user's other devices)
void encode_read_state(std::string_view topic, int64_t last_read_id, std::string& out);
// [null, null, "phoenix", "token_expiring", {"exp": E}]
void encode_token_expiring(int64_t exp, std::string& out);

// {user: {"metas": [...]}, ...}: presence_state's payload (the server API's presence answer).
void encode_presence_object(const PresenceEntries& entries, std::string& out);
// [null, null, topic, "msg_deleted", {"id", "event_id", "deleted_by"}] from a delete event
// (delete_target = the deleted id, id = the event's id, user_id = who deleted it).
void encode_msg_deleted(std::string_view topic, const ChatMessage& delete_event, std::string& out);

// {"messages": [...oldest first], "has_more": bool} — the HTTP history API body.
void encode_history_json(const std::vector<ChatMessage>& messages, bool has_more, std::string& out);
// One chat message object {"id",...}; a tombstone has "body": "" and "deleted": true.
void encode_message_object(const ChatMessage& msg, std::string& out);

// ---- client side (load tool, tests, client library)
void encode_client(const ClientMessage& msg, std::string& out);
[[nodiscard]] DecodeError decode_server(std::string_view text, ServerMessage& out);

// ---- JSON text helpers
// Appends s as a JSON string literal with RFC 8259 escaping (quotes, backslash, control chars;
// U+2028/U+2029 escaped too so the output is safe to embed in JavaScript).
void append_json_string(std::string& out, std::string_view s);
void append_optional_string(std::string& out, const std::optional<std::string>& s);

}  // namespace rtchat::proto::phoenix
