#include "server/net/ws_frame.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "proto/display_text.h"
#include "server/net/close_reasons.h"

namespace rtchat::server {

size_t ws_header_size(size_t payload_bytes) {
  if (payload_bytes < 126) return 2;
  if (payload_bytes <= 0xFFFF) return 4;
  return 10;
}

void write_ws_header(std::byte* out, WsOpcode opcode, size_t n) {
  out[0] = static_cast<std::byte>(0x80 | static_cast<uint8_t>(opcode));
  if (n < 126) {
    out[1] = static_cast<std::byte>(n);
  } else if (n <= 0xFFFF) {
    out[1] = std::byte{126};
    out[2] = static_cast<std::byte>(n >> 8);
    out[3] = static_cast<std::byte>(n);
  } else {
    out[1] = std::byte{127};
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::byte>(uint64_t{n} >> (56 - 8 * i));
  }
}

core::SharedFrame make_ws_frame(WsOpcode opcode, std::string_view payload) {
  size_t h = ws_header_size(payload.size());
  return core::SharedFrame::make(h + payload.size(), [&](std::byte* p) {
    write_ws_header(p, opcode, payload.size());
    std::memcpy(p + h, payload.data(), payload.size());
  });
}

core::SharedFrame make_close_frame(uint16_t code, std::string_view reason) {
  // At most 123 bytes after the code (a control frame's payload is <= 125), cut on a character
  // boundary: a close reason must be valid UTF-8 or the client fails the connection.
  reason = proto::utf8_prefix(reason, 123);
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return make_ws_frame(WsOpcode::Close, payload);
}

}  // namespace rtchat::server

namespace rtchat::server {
namespace {

constexpr uint8_t kOpContinuation = 0x0;
constexpr uint8_t kOpClose = 0x8;
constexpr uint16_t kProtocolError = static_cast<uint16_t>(CloseCode::ProtocolError);

bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }
bool is_known(uint8_t opcode) { return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA); }

}  // namespace

uint16_t FrameBoundary::check_header(uint64_t max_message_bytes) {
  const uint8_t opcode = header_[0] & 0x0F;
  const bool fin = (header_[0] & 0x80) != 0;
  const uint8_t len7 = header_[1] & 0x7F;
  auto fail = [&](uint16_t code, const std::string_view& reason) {
    close_code_ = code;
    reason_ = &reason;
    return code;
  };
  if (header_len_ == 2) {
    // Everything the first two bytes can break: no need to wait for the rest.
    if (header_[0] & 0x70) return fail(kProtocolError, close_reason::kReservedBits);
    if (!is_known(opcode)) return fail(kProtocolError, close_reason::kReservedOpcode);
    if (!(header_[1] & 0x80)) return fail(kProtocolError, close_reason::kUnmaskedFrame);
    if (is_control(opcode)) {
      if (!fin) return fail(kProtocolError, close_reason::kFragmentedControl);
      if (len7 > 125) return fail(kProtocolError, close_reason::kControlTooLong);
      // A close payload is empty or starts with a 2-byte code (section 5.5.1).
      if (opcode == kOpClose && len7 == 1) return fail(kProtocolError, close_reason::kCloseOneByte);
    } else if (opcode == kOpContinuation && !in_fragmented_message_) {
      return fail(kProtocolError, close_reason::kStrayContinuation);
    } else if (opcode != kOpContinuation && in_fragmented_message_) {
      return fail(kProtocolError, close_reason::kInterleavedMessage);
    }
    header_need_ = static_cast<uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
  }
  const size_t length_end = header_need_ - 4u;  // the mask key follows the length
  if (length_checked_ || header_len_ < length_end) return 0;
  length_checked_ = true;
  uint64_t len = len7;
  if (len7 == 126) {
    len = (uint64_t{header_[2]} << 8) | header_[3];
    if (len < 126) return fail(kProtocolError, close_reason::kNonMinimalLength);
  } else if (len7 == 127) {
    if (header_[2] & 0x80) return fail(kProtocolError, close_reason::kLengthTopBit);
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
    if (len <= 0xFFFF) return fail(kProtocolError, close_reason::kNonMinimalLength);
  }
  frame_payload_ = static_cast<uint32_t>(len);  // <= 125, or passed the message limit below
  if (!is_control(opcode)) {
    // Written so that nothing can wrap, whatever a 64-bit length holds.
    if (message_bytes_ > max_message_bytes || len > max_message_bytes - message_bytes_) {
      return fail(static_cast<uint16_t>(CloseCode::MessageTooBig), close_reason::kTooBig);
    }
    message_bytes_ += static_cast<uint32_t>(len);
    in_fragmented_message_ = !fin;
    if (fin) message_bytes_ = 0;
  }
  return 0;
}

FrameVerdict FrameBoundary::feed(std::string_view bytes, uint64_t max_message_bytes) {
  if (close_code_ != 0) return {close_code_, *reason_, 0};
  max_message_bytes = std::min<uint64_t>(max_message_bytes, UINT32_MAX);  // lengths kept in 32 bits
  size_t frame_start = 0;  // where the frame being read began in `bytes` (0: an earlier feed)
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (payload_left_ > 0) {
      uint64_t take = std::min<uint64_t>(payload_left_, bytes.size() - pos);
      payload_left_ -= static_cast<uint32_t>(take);
      pos += static_cast<size_t>(take);
      continue;
    }
    if (header_len_ == 0) frame_start = pos;
    header_[header_len_++] = static_cast<uint8_t>(bytes[pos++]);
    if (header_len_ >= 2 && check_header(max_message_bytes) != 0) {
      return {close_code_, *reason_, frame_start};
    }
    if (header_len_ < header_need_) continue;
    // Header complete (mask key included): the payload follows.
    payload_left_ = frame_payload_;
    header_len_ = 0;
    header_need_ = 2;
    length_checked_ = false;
  }
  return {};
}

}  // namespace rtchat::server
