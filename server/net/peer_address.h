// A connection's peer address, kept as its bytes (17 bytes, no heap) rather than as text: the
// text is what the per-IP counters and logs use, formatted when needed (at accept and at release
// of the per-IP count) into a stack buffer. An IPv6 address as a std::string took a heap block.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace rtchat::server {

class PeerAddress {
 public:
  // The text form, "?" for an address of another family (or none).
  class Text {
   public:
    [[nodiscard]] std::string_view view() const { return buf_.data(); }
    operator std::string_view() const { return view(); }  // NOLINT: used as the counter key

   private:
    friend class PeerAddress;
    std::array<char, INET6_ADDRSTRLEN> buf_{'?'};
  };

  PeerAddress() = default;
  static PeerAddress from(const sockaddr_storage& addr) {
    PeerAddress p;
    if (addr.ss_family == AF_INET) {
      p.family_ = AF_INET;
      std::memcpy(p.bytes_.data(), &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, 4);
    } else if (addr.ss_family == AF_INET6) {
      p.family_ = AF_INET6;
      std::memcpy(p.bytes_.data(), &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, 16);
    }
    return p;
  }

  [[nodiscard]] Text text() const {
    Text t;
    if (family_ == AF_INET || family_ == AF_INET6) {
      ::inet_ntop(family_, bytes_.data(), t.buf_.data(), t.buf_.size());
    }
    return t;
  }

 private:
  std::array<uint8_t, 16> bytes_{};
  uint8_t family_ = 0;  // AF_INET, AF_INET6 or 0 (unknown)
};

}  // namespace rtchat::server
