#include "server/net/host_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtchat::server {
namespace {

const std::vector<std::string> kNone;

TEST(HostPolicy, HostNameDropsPortCaseAndTrailingDot) {
  EXPECT_EQ(host_name_of("LocalHost.:4000"), "localhost");
  EXPECT_EQ(host_name_of("127.0.0.1:4000"), "127.0.0.1");
  EXPECT_EQ(host_name_of("[::1]:4000"), "[::1]");
  EXPECT_EQ(host_name_of("[::1]"), "[::1]");
  EXPECT_EQ(host_name_of("chat.example.com"), "chat.example.com");
  // Not a host[:port]: refused rather than guessed at.
  EXPECT_EQ(host_name_of(""), "");
  EXPECT_EQ(host_name_of("localhost:99999"), "");
  EXPECT_EQ(host_name_of("localhost:"), "");
  EXPECT_EQ(host_name_of("localhost:80:80"), "");
  EXPECT_EQ(host_name_of("evil.example/localhost"), "");
  EXPECT_EQ(host_name_of("user@localhost"), "");
  EXPECT_EQ(host_name_of("[::1"), "");
  EXPECT_EQ(host_name_of("[::1]x"), "");
  EXPECT_EQ(host_name_of("[evil]"), "");
}

TEST(HostPolicy, DevModeAnswersLocalhostNamesOnly) {
  for (const char* ok : {"localhost", "localhost:4000", "127.0.0.1:4000", "[::1]:4000",
                         "app.localhost:4000", "LOCALHOST"}) {
    EXPECT_TRUE(host_allowed(ok, true, kNone)) << ok;
  }
  // DNS rebinding: the attacker's own name, resolving to 127.0.0.1.
  for (const char* bad : {"evil.example", "evil.example:4000", "localhost.evil.example",
                          "127.0.0.2", "evillocalhost", "0.0.0.0:4000", "[::2]"}) {
    EXPECT_FALSE(host_allowed(bad, true, kNone)) << bad;
  }
  EXPECT_TRUE(host_allowed("", true, kNone)) << "HTTP/1.0 tools send no Host; browsers always do";
}

TEST(HostPolicy, DevModeAddsTheListedNames) {
  const std::vector<std::string> lan{"devbox.lan"};
  EXPECT_TRUE(host_allowed("devbox.lan:4000", true, lan));
  EXPECT_TRUE(host_allowed("localhost:4000", true, lan));
  EXPECT_FALSE(host_allowed("evil.example", true, lan));
}

TEST(HostPolicy, ProductionAnswersAnyHostWithoutAList) {
  EXPECT_TRUE(host_allowed("evil.example", false, kNone));
  EXPECT_TRUE(host_allowed("", false, kNone));
  EXPECT_FALSE(host_allowed("bad host", false, kNone));
}

TEST(HostPolicy, ProductionListMatchesNamesPortsAndSubdomains) {
  const std::vector<std::string> list{"chat.example.com", "*.example.org", "api.example.net:8443"};
  EXPECT_TRUE(host_allowed("chat.example.com", false, list));
  EXPECT_TRUE(host_allowed("Chat.Example.Com:443", false, list));
  EXPECT_TRUE(host_allowed("eu.example.org", false, list));
  EXPECT_TRUE(host_allowed("a.b.example.org:80", false, list));
  EXPECT_FALSE(host_allowed("example.org", false, list)) << "*.x is strictly below x";
  EXPECT_FALSE(host_allowed("badexample.org", false, list));
  EXPECT_TRUE(host_allowed("api.example.net:8443", false, list));
  EXPECT_FALSE(host_allowed("api.example.net:9000", false, list));
  EXPECT_FALSE(host_allowed("localhost", false, list)) << "localhost is not special in production";
  EXPECT_FALSE(host_allowed("", false, list));
}

}  // namespace
}  // namespace rtchat::server
