// Server-to-client WebSocket frames (RFC 6455 section 5.2): unmasked, FIN set, 2/4/10-byte
// header. Written straight into a SharedFrame so a broadcast is header + payload, encoded once.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/shared_frame.h"

namespace rtchat::server {

enum class WsOpcode : uint8_t { Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA };

size_t ws_header_size(size_t payload_bytes);
void write_ws_header(std::byte* out, WsOpcode opcode, size_t payload_bytes);
core::SharedFrame make_ws_frame(WsOpcode opcode, std::string_view payload);
// Close frame: 2-byte code + reason (truncated to 123 bytes so the payload fits 125).
core::SharedFrame make_close_frame(uint16_t code, std::string_view reason);

}  // namespace rtchat::server

namespace rtchat::server {

// Follows client frame boundaries in the inbound byte stream without parsing payloads, so the
// shard knows when a connection sits between messages and its wslay context (8.8 KB with its
// buffers, performance-notes 2.7) can be freed until the next frame arrives.
class FrameBoundary {
 public:
  void feed(std::string_view bytes);
  // True between complete messages: no partial header, payload or fragmented message pending.
  [[nodiscard]] bool at_message_boundary() const {
    return header_len_ == 0 && payload_left_ == 0 && !in_fragmented_message_;
  }

 private:
  uint8_t header_[14] = {};
  uint8_t header_len_ = 0;
  uint64_t payload_left_ = 0;
  bool in_fragmented_message_ = false;
};

}  // namespace rtchat::server
