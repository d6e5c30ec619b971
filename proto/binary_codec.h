// rtchat.v1: the FlatBuffers binary protocol (schema proto/rtchat.fbs), negotiated with
// Sec-WebSocket-Protocol: rtchat.v1. Same logical messages as the Phoenix JSON codec
// (proto/messages.h); each binary WebSocket frame holds one verified FlatBuffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/messages.h"

namespace rtchat::proto::binary {

inline constexpr std::string_view kSubprotocol = "rtchat.v1";

// ---- server side (every inbound buffer is checked with the FlatBuffers Verifier first)
[[nodiscard]] DecodeError decode_client(std::string_view bytes, ClientMessage& out);
void encode_reply(const Reply& reply, std::string& out);
void encode_new_msg(std::string_view topic, const ChatMessage& msg, std::string& out);
void encode_presence_state(const std::optional<std::string>& join_ref, std::string_view topic,
                           const PresenceStateView& state, std::string& out);
inline void encode_presence_state(const std::optional<std::string>& join_ref,
                                  std::string_view topic, const PresenceEntries& state,
                                  std::string& out) {
  encode_presence_state(join_ref, topic, view_of(state), out);
}
// One presence_state sent to many joiners, in two parts: the tail (the state: the same bytes end
// every such frame, whatever its join_ref and topic) encoded once, and a small head per joiner.
// head + tail is one valid frame (FlatBuffers are built back to front and refer forward by
// relative offsets), though not byte for byte what encode_presence_state writes.
// The tail's return value locates the state's table in it (its vtable may come first): the head
// needs it.
uint32_t encode_presence_state_tail(const PresenceStateView& state, std::string& out);
void encode_presence_state_head(const std::optional<std::string>& join_ref, std::string_view topic,
                                std::string_view tail, uint32_t body, std::string& out);
void encode_presence_diff(std::string_view topic, const PresenceDiff& diff, std::string& out);
void encode_close(const std::optional<std::string>& join_ref, std::string_view topic,
                  std::string& out);
void encode_channel_error(const std::optional<std::string>& join_ref, std::string_view topic,
                          std::string_view reason, std::string& out);
void encode_typing(std::string_view topic, std::string_view user_id, std::string_view user,
                   std::string& out);
void encode_read_state(std::string_view topic, int64_t last_read_id, std::string& out);
void encode_token_expiring(int64_t exp, std::string& out);
// msg_deleted from a delete event (as phoenix::encode_msg_deleted).
void encode_msg_deleted(std::string_view topic, const ChatMessage& delete_event, std::string& out);

// ---- client side
void encode_client(const ClientMessage& msg, std::string& out);
[[nodiscard]] DecodeError decode_server(std::string_view bytes, ServerMessage& out);

}  // namespace rtchat::proto::binary
