#include "server/net/peer_address.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::server {
namespace {

sockaddr_storage parse(int family, const char* text) {
  sockaddr_storage s{};
  s.ss_family = static_cast<sa_family_t>(family);
  void* dst = family == AF_INET
                  ? static_cast<void*>(&reinterpret_cast<sockaddr_in*>(&s)->sin_addr)
                  : static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(&s)->sin6_addr);
  EXPECT_EQ(::inet_pton(family, text, dst), 1) << text;
  return s;
}

// The text is the per-IP counter's key: the same as inet_ntop gives (what getpeername + inet_ntop
// gave before), for both families and IPv4-mapped addresses of a dual-stack listener.
TEST(PeerAddress, FormatsLikeInetNtop) {
  EXPECT_EQ(PeerAddress::from(parse(AF_INET, "127.0.0.2")).text().view(), "127.0.0.2");
  EXPECT_EQ(PeerAddress::from(parse(AF_INET, "255.255.255.255")).text().view(), "255.255.255.255");
  EXPECT_EQ(PeerAddress::from(parse(AF_INET6, "::1")).text().view(), "::1");
  EXPECT_EQ(
      PeerAddress::from(parse(AF_INET6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")).text().view(),
      "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
  EXPECT_EQ(PeerAddress::from(parse(AF_INET6, "::ffff:10.1.2.3")).text().view(), "::ffff:10.1.2.3");
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_EQ(PeerAddress::from(unix_peer).text().view(), "?");
  EXPECT_EQ(PeerAddress().text().view(), "?");
}

TEST(PeerAddress, IsSmallerThanAString) {
  static_assert(sizeof(PeerAddress) <= 17);
  EXPECT_LT(sizeof(PeerAddress), sizeof(std::string));
}

}  // namespace
}  // namespace rtchat::server
