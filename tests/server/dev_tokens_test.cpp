#include "server/auth/dev_tokens.h"

#include <gtest/gtest.h>

#include <ctime>
#include <limits>
#include <string>

#include "proto/display_text.h"
#include "proto/jwt.h"

namespace rtchat::server {
namespace {

using proto::utf8_prefix;

TEST(DevTokens, Utf8PrefixNeverCutsACharacter) {
  EXPECT_EQ(utf8_prefix("abc", 64), "abc");
  EXPECT_EQ(utf8_prefix("abcdef", 3), "abc");
  // "é" is 2 bytes, "€" 3, "😀" 4: a cut inside any of them backs off to the character start.
  EXPECT_EQ(utf8_prefix("a\xC3\xA9", 2), "a");
  EXPECT_EQ(utf8_prefix("a\xE2\x82\xAC", 3), "a");
  EXPECT_EQ(utf8_prefix("a\xF0\x9F\x98\x80", 4), "a");
  EXPECT_EQ(utf8_prefix("a\xF0\x9F\x98\x80", 5), "a\xF0\x9F\x98\x80");
  std::string name;
  for (int i = 0; i < 40; ++i) name += "\xC3\xA9";  // 80 bytes, cut at 64 = 32 whole characters
  EXPECT_EQ(utf8_prefix(name, 64).size(), 64u);
  name = "x" + name;  // now byte 64 is a continuation byte
  EXPECT_EQ(utf8_prefix(name, 64).size(), 63u);
}

TEST(DevTokens, MintedNameCutAtABoundaryVerifies) {
  std::string user = "x";
  for (int i = 0; i < 40; ++i) user += "\xE2\x82\xAC";  // 121 bytes of "x€€€…"
  proto::JwtClaims claims;
  claims.sub = user;
  claims.name = std::string(utf8_prefix(user, proto::kMaxJwtNameBytes));
  const int64_t now = std::time(nullptr);  // mint_jwt stamps iat with the real clock
  claims.exp = now + 60;
  proto::JwtClaims out;
  ASSERT_EQ(proto::verify_jwt(proto::mint_jwt("s", claims), "s", now, 5, out),
            proto::JwtError::None);
  EXPECT_EQ(out.name, claims.name);
}

TEST(DevTokens, ExpiryRefusesAbsurdTtlsAndSaturates) {
  EXPECT_EQ(expiry_after(1000, 60, 3600), 1060);
  EXPECT_EQ(expiry_after(1000, 3600, 3600), 4600);
  EXPECT_EQ(expiry_after(1000, 3601, 3600), std::nullopt);
  EXPECT_EQ(expiry_after(1000, 0, 3600), std::nullopt);
  EXPECT_EQ(expiry_after(1000, -5, 3600), std::nullopt);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(expiry_after(1000, kMax, kMaxMintTtlS), std::nullopt) << "the overflow of issue 12";
  EXPECT_EQ(expiry_after(kMax - 10, 60, kMax), kMax);
}

TEST(DevTokens, ParsesTheRequestBody) {
  auto r = parse_dev_token_request(R"({"user":"alice","ttl":120})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->ttl_s, 120);
  r = parse_dev_token_request(R"({"user":"bob"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ttl_s, kDefaultDevTtlS);
  EXPECT_FALSE(parse_dev_token_request(R"({"ttl":5})"));
  EXPECT_FALSE(parse_dev_token_request(R"({"user":"a","ttl":"5"})"));
  EXPECT_FALSE(parse_dev_token_request("not json"));
}

}  // namespace
}  // namespace rtchat::server
