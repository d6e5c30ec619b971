// WebSocket close codes and reasons the server sends (docs/protocol.md lists them for clients).
// Each reason fits in 123 bytes. Keep them here so tests and docs name the same strings.
#pragma once

#include <cstdint>
#include <string_view>

namespace rtchat::server {

enum class CloseCode : uint16_t {
  Normal = 1000,
  GoingAway = 1001,        // drain / shutdown: clients reconnect and recover
  ProtocolError = 1002,    // invalid frame (e.g. unmasked client frame)
  UnsupportedData = 1003,  // binary frame on a JSON socket / text on a binary one
  InvalidPayload = 1007,   // invalid UTF-8, not a Phoenix envelope, FlatBuffer fails verify
  PolicyViolation = 1008,  // flooding after rate-limit replies, idle/heartbeat timeout
  MessageTooBig = 1009,    // over --max-message-bytes
  InternalError = 1011,    // a bug on our side, or storage lost
  TokenExpired = 4001,     // reconnect with a fresh token
  TooSlow = 4008,          // outbound queue over its cap: reconnect and recover (last_seen_id)
};

namespace close_reason {
inline constexpr std::string_view kGoingAway = "going away";
inline constexpr std::string_view kProtocolError = "protocol error";
// 1002 for a frame header that breaks RFC 6455 section 5 (FrameBoundary names which rule).
inline constexpr std::string_view kReservedBits = "protocol error: reserved bits set";
inline constexpr std::string_view kReservedOpcode = "protocol error: reserved opcode";
inline constexpr std::string_view kUnmaskedFrame = "protocol error: unmasked client frame";
inline constexpr std::string_view kFragmentedControl = "protocol error: fragmented control frame";
inline constexpr std::string_view kControlTooLong = "protocol error: control frame over 125 bytes";
inline constexpr std::string_view kCloseOneByte =
    "protocol error: close frame with a 1-byte payload";
inline constexpr std::string_view kNonMinimalLength =
    "protocol error: length not minimally encoded";
inline constexpr std::string_view kLengthTopBit =
    "protocol error: 64-bit length with the top bit set";
inline constexpr std::string_view kStrayContinuation =
    "protocol error: continuation frame outside a message";
inline constexpr std::string_view kInterleavedMessage =
    "protocol error: new message inside a fragmented one";
inline constexpr std::string_view kUnsupportedData = "unsupported data";
inline constexpr std::string_view kInvalidUtf8 = "invalid payload: bad utf-8";
inline constexpr std::string_view kNotEnvelope = "invalid payload: not a phoenix v2 frame";
inline constexpr std::string_view kBadBuffer = "invalid payload: flatbuffer failed verification";
inline constexpr std::string_view kTooBig = "message too big";
inline constexpr std::string_view kHeartbeatTimeout = "policy violation: heartbeat timeout";
inline constexpr std::string_view kFlood = "policy violation: rate limit";
inline constexpr std::string_view kTokenExpired = "token expired";
inline constexpr std::string_view kTooSlow = "too slow: reconnect and recover";
inline constexpr std::string_view kInternal = "internal error";
}  // namespace close_reason

// The closes the server decides on its own, each paired once with its code and reason (the
// dynamic ones, a frame header's verdict or wslay's own code, pass both explicitly).
enum class Close : uint8_t {
  GoingAway,
  UnsupportedData,
  NotEnvelope,
  BadBuffer,
  HeartbeatTimeout,
  Flood,
  TokenExpired,
  TooSlow,
  Internal,
};
struct CloseSpec {
  CloseCode code;
  std::string_view reason;
};
constexpr CloseSpec close_spec(Close which) {
  switch (which) {
    case Close::GoingAway:
      return {CloseCode::GoingAway, close_reason::kGoingAway};
    case Close::UnsupportedData:
      return {CloseCode::UnsupportedData, close_reason::kUnsupportedData};
    case Close::NotEnvelope:
      return {CloseCode::InvalidPayload, close_reason::kNotEnvelope};
    case Close::BadBuffer:
      return {CloseCode::InvalidPayload, close_reason::kBadBuffer};
    case Close::HeartbeatTimeout:
      return {CloseCode::PolicyViolation, close_reason::kHeartbeatTimeout};
    case Close::Flood:
      return {CloseCode::PolicyViolation, close_reason::kFlood};
    case Close::TokenExpired:
      return {CloseCode::TokenExpired, close_reason::kTokenExpired};
    case Close::TooSlow:
      return {CloseCode::TooSlow, close_reason::kTooSlow};
    case Close::Internal:
      break;
  }
  return {CloseCode::InternalError, close_reason::kInternal};
}

}  // namespace rtchat::server
