#include "server/ws_frame.h"

#include <cstring>
#include <string>

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
  if (reason.size() > 123) reason = reason.substr(0, 123);
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return make_ws_frame(WsOpcode::Close, payload);
}

}  // namespace rtchat::server
