// Server-to-client WebSocket frames (RFC 6455 section 5.2): unmasked, FIN set, 2/4/10-byte
// header. Written straight into a SharedFrame so a broadcast is header + payload, encoded once.
// Why by hand and not through wslay: wslay_event_queue_msg copies the payload into each
// connection's own queue and frames it per connection, so a message to a 10k-member room would be
// framed and copied 10k times. A server frame has no mask, so the bytes are the same for every
// recipient: the owner encodes one frame, and every member's OutboundQueue points at the same
// reference-counted bytes (one sendmsg per connection per turn gathers them). wslay keeps what it
// is good at: parsing and checking client frames, pongs, and the close handshake.
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

// What FrameBoundary::feed found. close_code 0: every header so far is valid. Otherwise the close
// the connection must get (1002 or 1009) with its reason (static storage, close_reasons.h).
struct FrameVerdict {
  uint16_t close_code = 0;
  std::string_view reason;
  // Bytes of this feed before the offending frame's header: frames there are complete and valid,
  // so they may still be handed to wslay (a reply queued before the close, close-after-reply).
  size_t valid_prefix = 0;
  [[nodiscard]] bool ok() const { return close_code == 0; }
};

// Follows and checks client frame headers (RFC 6455 section 5.2) in the inbound byte stream
// without touching payloads. Two jobs:
// - Boundaries: the shard knows when a connection sits between messages, so its wslay context
//   (8.8 KB with its buffers) can be freed until the next frame arrives.
// - Header rules, decided as soon as the header bytes that break them arrive, before wslay (which
//   answers framing errors with an empty close frame, and a size violation only once payload
//   arrives) sees them: RSV bits (no extension is negotiated), reserved opcodes, unmasked frames,
//   fragmented or over-125-byte control frames, a 1-byte close payload, non-minimal or
//   top-bit-set lengths, continuation without a message or a new message inside one -> 1002; a
//   data frame taking its message past max_message_bytes -> 1009, from the header alone.
// Payload rules (UTF-8, close codes) stay with wslay. Allocation-free; shard-local like its
// Connection. After a violation every later feed returns the same verdict (valid_prefix 0).
class FrameBoundary {
 public:
  [[nodiscard]] FrameVerdict feed(std::string_view bytes, uint64_t max_message_bytes);
  // True between complete messages: no partial header, payload or fragmented message pending.
  [[nodiscard]] bool at_message_boundary() const {
    return header_len_ == 0 && payload_left_ == 0 && !in_fragmented_message_ && close_code_ == 0;
  }

 private:
  // Checks the header once header_len_ bytes are in; returns a close code (0: fine so far).
  uint16_t check_header(uint64_t max_message_bytes);

  uint8_t header_[14] = {};
  uint8_t header_len_ = 0;
  uint8_t header_need_ = 2;      // header bytes expected for the frame being read
  bool length_checked_ = false;  // the payload length of this header passed its checks
  bool in_fragmented_message_ = false;
  uint16_t close_code_ = 0;  // sticky once a rule is broken
  // Lengths that passed the checks, so at most the message limit, which feed() caps at 4 GiB - 1:
  // 32 bits each (every connection holds one FrameBoundary).
  uint32_t frame_payload_ = 0;  // payload length of the header being read, once checked
  uint32_t payload_left_ = 0;   // payload bytes still to skip
  uint32_t message_bytes_ = 0;  // payload of the data message so far (fragments included)
  const std::string_view* reason_ = nullptr;  // one of close_reasons.h's (static storage)
};

}  // namespace rtchat::server
