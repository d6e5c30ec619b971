#include "server/ws_frame.h"

#include <algorithm>
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

namespace rtchat::server {

void FrameBoundary::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (payload_left_ > 0) {
      uint64_t take = std::min<uint64_t>(payload_left_, bytes.size());
      payload_left_ -= take;
      bytes.remove_prefix(static_cast<size_t>(take));
      continue;
    }
    header_[header_len_++] = static_cast<uint8_t>(bytes.front());
    bytes.remove_prefix(1);
    if (header_len_ < 2) continue;
    uint8_t len7 = header_[1] & 0x7F;
    size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    if (header_len_ < need) continue;
    uint64_t len = len7;
    if (len7 == 126) len = (uint64_t{header_[2]} << 8) | header_[3];
    if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
    }
    uint8_t opcode = header_[0] & 0x0F;
    bool fin = header_[0] & 0x80;
    if (opcode < 0x8) in_fragmented_message_ = !fin;  // data frames; control frames interleave
    payload_left_ = len;
    header_len_ = 0;
  }
}

}  // namespace rtchat::server
