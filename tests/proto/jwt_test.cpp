#include "proto/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>
#include <limits>
#include <string>
#include <string_view>

#include "proto/base64.h"

namespace rtchat::proto {
namespace {

constexpr std::string_view kSecret = "test-secret-0123456789";
constexpr int64_t kNow = 1'700'000'000;

JwtClaims basic_claims() {
  JwtClaims c;
  c.sub = "u42";
  c.name = "Ada";
  c.exp = kNow + 3600;
  c.iat = kNow;
  return c;
}

// Builds a token from raw header and payload JSON, signed with the given digest.
std::string sign_raw(std::string_view header_json, std::string_view payload_json,
                     std::string_view secret = kSecret, const EVP_MD* md = EVP_sha256()) {
  std::string signing_input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(md, secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_len);
  return signing_input + "." +
         base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

JwtError verify(std::string_view token, JwtClaims& out, int64_t now = kNow, int64_t leeway = 0) {
  return verify_jwt(token, kSecret, now, leeway, out);
}

TEST(Jwt, VerifiesValidToken) {
  const std::string token =
      sign_raw(kHs256Header, R"({"sub":"u1","name":"Bob","exp":1700003600,"iat":1699999000})");
  JwtClaims c;
  ASSERT_EQ(verify(token, c), JwtError::None);
  EXPECT_EQ(c.sub, "u1");
  EXPECT_EQ(c.name, "Bob");
  EXPECT_EQ(c.exp, 1700003600);
  EXPECT_EQ(c.iat, 1699999000);
  EXPECT_FALSE(c.nbf.has_value());
  EXPECT_FALSE(c.rooms.has_value());
}

TEST(Jwt, HeaderWithoutTypIsAccepted) {
  const std::string token = sign_raw(R"({"alg":"HS256"})", R"({"sub":"u1","exp":1700003600})");
  JwtClaims c;
  ASSERT_EQ(verify(token, c), JwtError::None);
  EXPECT_EQ(c.name, "u1");  // name defaults to sub
}

TEST(Jwt, NameFromASubWithInvisibleCharactersIsCleanedAndStableOnReMint) {
  // Found by tests/fuzz/fuzz_jwt: an empty name claim fell back to the raw sub, control
  // characters included, and a re-minted token then read back another (cleaned) name.
  JwtClaims c;
  ASSERT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"b\u009eb","exp":1700003600,"name":""})"), c),
            JwtError::None);
  EXPECT_EQ(c.sub,
            "b\xC2\x9E"
            "b");
  EXPECT_EQ(c.name, "bb");
  JwtClaims minted = c;
  minted.iat = kNow;
  JwtClaims again;
  ASSERT_EQ(verify(mint_jwt(kSecret, minted), again), JwtError::None);
  EXPECT_EQ(again.name, "bb");
}

TEST(Jwt, NameFromALongSubStaysWithinTheNameCap) {
  // Found by tests/fuzz/fuzz_jwt: a sub of 65..128 bytes became a name over 64 bytes, and
  // mint_jwt then wrote it as a "name" claim that verify_jwt refuses.
  const std::string sub = std::string(63, 'a') + "\xC3\xA9" + std::string(40, 'b');  // é at 63
  JwtClaims c;
  ASSERT_EQ(verify(sign_raw(kHs256Header, R"({"sub":")" + sub + R"(","exp":1700003600})"), c),
            JwtError::None);
  EXPECT_EQ(c.sub, sub);
  EXPECT_EQ(c.name, std::string(63, 'a'));  // cut before the 2-byte character, not inside it

  JwtClaims minted;
  minted.sub = sub;
  minted.exp = kNow + 60;
  minted.iat = kNow;
  JwtClaims out;
  ASSERT_EQ(verify(mint_jwt(kSecret, minted), out), JwtError::None);
  EXPECT_EQ(out.sub, sub);
  EXPECT_EQ(out.name, std::string(63, 'a'));
}

TEST(Jwt, RejectsExpiredToken) {
  const std::string token = sign_raw(kHs256Header, R"({"sub":"u1","exp":1699999999})");
  JwtClaims c;
  EXPECT_EQ(verify(token, c), JwtError::Expired);
  EXPECT_EQ(jwt_error_reason(JwtError::Expired), "token expired");
}

TEST(Jwt, TokenIsValidUntilTheExpSecondInclusive) {
  const std::string token = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700000000})");
  JwtClaims c;
  EXPECT_EQ(verify(token, c, kNow), JwtError::None);
  EXPECT_EQ(verify(token, c, kNow + 1), JwtError::Expired);
}

TEST(Jwt, RejectsNbfInTheFuture) {
  const std::string token =
      sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600,"nbf":1700000100})");
  JwtClaims c;
  EXPECT_EQ(verify(token, c), JwtError::NotYetValid);
  EXPECT_EQ(verify(token, c, kNow + 100), JwtError::None);
}

TEST(Jwt, LeewayIsHonouredForExpAndNbf) {
  const std::string expired = sign_raw(kHs256Header, R"({"sub":"u1","exp":1699999970})");
  const std::string early =
      sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600,"nbf":1700000030})");
  JwtClaims c;
  EXPECT_EQ(verify(expired, c, kNow, 30), JwtError::None);
  EXPECT_EQ(verify(expired, c, kNow, 29), JwtError::Expired);
  EXPECT_EQ(verify(early, c, kNow, 30), JwtError::None);
  EXPECT_EQ(verify(early, c, kNow, 29), JwtError::NotYetValid);
  EXPECT_EQ(verify(expired, c, kNow, -1000), JwtError::Expired);  // negative leeway counts as 0
}

TEST(Jwt, ExtremeExpAndNbfDoNotOverflow) {
  const std::string far = sign_raw(kHs256Header, R"({"sub":"u1","exp":9223372036854775807})");
  const std::string past = sign_raw(kHs256Header, R"({"sub":"u1","exp":-9223372036854775808})");
  JwtClaims c;
  EXPECT_EQ(verify(far, c, kNow, 60), JwtError::None);
  EXPECT_EQ(verify(past, c, kNow, 60), JwtError::Expired);
}

TEST(Jwt, RejectsWrongSignature) {
  const std::string token =
      sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})", "another-secret");
  JwtClaims c;
  EXPECT_EQ(verify(token, c), JwtError::BadSignature);
  EXPECT_EQ(verify_jwt(token, "", kNow, 0, c), JwtError::BadSignature);  // empty secret never ok
  // A tampered payload with the original signature.
  std::string good = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})");
  const std::string other = sign_raw(kHs256Header, R"({"sub":"admin","exp":1700003600})");
  const std::string forged = other.substr(0, other.rfind('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(verify(forged, c), JwtError::BadSignature);
}

TEST(Jwt, SecretCacheTracksChangingSecrets) {
  const std::string a = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})", "secret-a");
  const std::string b = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})", "secret-b");
  JwtClaims c;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(verify_jwt(a, "secret-a", kNow, 0, c), JwtError::None);
    EXPECT_EQ(verify_jwt(a, "secret-a", kNow, 0, c), JwtError::None);
    EXPECT_EQ(verify_jwt(b, "secret-a", kNow, 0, c), JwtError::BadSignature);
    EXPECT_EQ(verify_jwt(b, "secret-b", kNow, 0, c), JwtError::None);
  }
}

TEST(Jwt, RejectsAlgNoneWithEmptySignature) {
  const std::string payload = base64url_encode(R"({"sub":"u1","exp":1700003600})");
  const std::string token = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  JwtClaims c;
  EXPECT_EQ(verify(token, c), JwtError::UnsupportedAlg);
  const std::string upper = base64url_encode(R"({"alg":"None"})") + "." + payload + ".";
  EXPECT_EQ(verify(upper, c), JwtError::UnsupportedAlg);
}

TEST(Jwt, RejectsHs512SignedWithSameSecret) {
  const std::string token = sign_raw(R"({"alg":"HS512","typ":"JWT"})",
                                     R"({"sub":"u1","exp":1700003600})", kSecret, EVP_sha512());
  JwtClaims c;
  EXPECT_EQ(verify(token, c), JwtError::UnsupportedAlg);
}

TEST(Jwt, RejectsMissingOrNonStringAlg) {
  JwtClaims c;
  EXPECT_EQ(verify(sign_raw(R"({"typ":"JWT"})", R"({"sub":"u1","exp":1700003600})"), c),
            JwtError::UnsupportedAlg);
  EXPECT_EQ(verify(sign_raw(R"({"alg":256})", R"({"sub":"u1","exp":1700003600})"), c),
            JwtError::UnsupportedAlg);
  EXPECT_EQ(verify(sign_raw(R"(["HS256"])", R"({"sub":"u1","exp":1700003600})"), c),
            JwtError::BadJson);
}

TEST(Jwt, RejectsTruncatedAndMisshapenTokens) {
  const std::string token = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})");
  JwtClaims c;
  EXPECT_EQ(verify(token.substr(0, token.size() - 1), c), JwtError::BadSignature);
  EXPECT_EQ(verify(token.substr(0, token.rfind('.')), c), JwtError::Malformed);
  EXPECT_EQ(verify(token.substr(0, token.find('.')), c), JwtError::Malformed);
  EXPECT_EQ(verify(token.substr(0, token.find('.') + 5), c), JwtError::Malformed);
  EXPECT_EQ(verify("", c), JwtError::Malformed);
  EXPECT_EQ(verify("..", c), JwtError::Malformed);
  EXPECT_EQ(verify(token + ".", c), JwtError::Malformed);
  EXPECT_EQ(verify(token + ".x", c), JwtError::Malformed);
  EXPECT_EQ(verify(std::string(kMaxJwtBytes + 1, 'a'), c), JwtError::Malformed);
  // Every prefix is rejected, never crashes.
  for (size_t i = 0; i < token.size(); ++i) {
    EXPECT_NE(verify(token.substr(0, i), c), JwtError::None) << i;
  }
}

TEST(Jwt, RejectsBadBase64UrlCharacters) {
  const std::string token = sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600})");
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.rfind('.');
  JwtClaims c;
  std::string bad_header = token;
  bad_header[1] = '+';
  EXPECT_EQ(verify(bad_header, c), JwtError::BadBase64);
  std::string bad_sig = token;
  bad_sig[dot2 + 3] = '/';
  EXPECT_EQ(verify(bad_sig, c), JwtError::BadBase64);
  std::string padded_sig = token;
  padded_sig.back() = '=';
  EXPECT_EQ(verify(padded_sig, c), JwtError::BadBase64);
  // A payload with a bad character that is correctly signed still fails to decode.
  std::string input = token.substr(0, dot2);
  input[dot1 + 2] = '*';
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  const std::string signed_bad =
      input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), mac_len));
  EXPECT_EQ(verify(signed_bad, c), JwtError::BadBase64);
}

TEST(Jwt, RejectsPayloadThatIsNotJson) {
  JwtClaims c;
  EXPECT_EQ(verify(sign_raw(kHs256Header, "not json"), c), JwtError::BadJson);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"u1","exp":17)"), c), JwtError::BadJson);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"(["sub","u1"])"), c), JwtError::BadJson);
  EXPECT_EQ(verify(sign_raw(kHs256Header, "\xff\xfe"), c), JwtError::BadJson);
}

TEST(Jwt, RejectsMissingSub) {
  JwtClaims c;
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"exp":1700003600})"), c), JwtError::MissingSub);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"","exp":1700003600})"), c),
            JwtError::MissingSub);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":42,"exp":1700003600})"), c),
            JwtError::BadClaims);
  const std::string long_sub = R"({"sub":")" + std::string(129, 'a') + R"(","exp":1700003600})";
  EXPECT_EQ(verify(sign_raw(kHs256Header, long_sub), c), JwtError::BadClaims);
}

TEST(Jwt, RejectsMissingExp) {
  JwtClaims c;
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"u1"})"), c), JwtError::MissingExp);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"u1","exp":"1700003600"})"), c),
            JwtError::BadClaims);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600.5})"), c),
            JwtError::BadClaims);
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"u1","exp":18446744073709551615})"), c),
            JwtError::BadClaims);
}

TEST(Jwt, RejectsBadlyTypedOptionalClaims) {
  JwtClaims c;
  const auto bad = [&](std::string_view payload) {
    return verify(sign_raw(kHs256Header, payload), c);
  };
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"name":7})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"name":")" + std::string(65, 'n') + "\"}"),
            JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"nbf":"soon"})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"iat":1.5})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"rooms":"lobby"})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"rooms":["lobby",3]})"), JwtError::BadClaims);
}

TEST(Jwt, RoomsClaimAllowsExactAndPrefixMatches) {
  const std::string token =
      sign_raw(kHs256Header, R"({"sub":"u1","exp":1700003600,"rooms":["lobby","ops-*","team.a"]})");
  JwtClaims c;
  ASSERT_EQ(verify(token, c), JwtError::None);
  ASSERT_TRUE(c.rooms.has_value());
  EXPECT_EQ(c.rooms->size(), 3u);
  EXPECT_TRUE(room_allowed(c, "lobby"));
  EXPECT_TRUE(room_allowed(c, "team.a"));
  EXPECT_TRUE(room_allowed(c, "ops-1"));
  EXPECT_TRUE(room_allowed(c, "ops-"));
  EXPECT_FALSE(room_allowed(c, "lobby2"));
  EXPECT_FALSE(room_allowed(c, "lob"));
  EXPECT_FALSE(room_allowed(c, "ops"));
  EXPECT_FALSE(room_allowed(c, "team.b"));

  JwtClaims no_rooms = basic_claims();
  EXPECT_TRUE(room_allowed(no_rooms, "anything"));
  JwtClaims empty_rooms = basic_claims();
  empty_rooms.rooms.emplace();
  EXPECT_FALSE(room_allowed(empty_rooms, "lobby"));
  JwtClaims star = basic_claims();
  star.rooms = std::vector<std::string>{"*"};
  EXPECT_TRUE(room_allowed(star, "lobby"));
}

TEST(Jwt, ModeratorRightFromRoleOrModerateList) {
  JwtClaims c;
  ASSERT_EQ(verify(sign_raw(kHs256Header,
                            R"({"sub":"m1","exp":1700003600,"moderate":["general","team-*"]})"),
                   c),
            JwtError::None);
  ASSERT_TRUE(c.moderate.has_value());
  EXPECT_TRUE(c.role.empty());
  EXPECT_TRUE(may_moderate(c, "general"));
  EXPECT_TRUE(may_moderate(c, "team-a"));
  EXPECT_FALSE(may_moderate(c, "general2"));
  EXPECT_FALSE(may_moderate(c, "team"));

  ASSERT_EQ(
      verify(sign_raw(kHs256Header, R"({"sub":"m2","exp":1700003600,"role":"moderator"})"), c),
      JwtError::None);
  EXPECT_EQ(c.role, "moderator");
  EXPECT_TRUE(may_moderate(c, "any-room"));

  JwtClaims plain = basic_claims();
  EXPECT_FALSE(may_moderate(plain, "general"));  // no claim: only one's own messages
  plain.role = "admin";
  EXPECT_FALSE(may_moderate(plain, "general"));  // only "moderator" is a moderator role
  plain.moderate.emplace();
  EXPECT_FALSE(may_moderate(plain, "general"));

  const auto bad = [&](std::string_view payload) {
    return verify(sign_raw(kHs256Header, payload), c);
  };
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"role":7})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"role":")" + std::string(33, 'r') + "\"}"),
            JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"moderate":"general"})"), JwtError::BadClaims);
  EXPECT_EQ(bad(R"({"sub":"u1","exp":1700003600,"moderate":[1]})"), JwtError::BadClaims);
}

TEST(Jwt, MintThenVerifyRoundTrips) {
  JwtClaims in = basic_claims();
  in.name = "Ada \"the\" \\ Lovelace\n";
  in.nbf = kNow - 10;
  in.rooms = std::vector<std::string>{"lobby", "ops-*"};
  in.role = "moderator";
  in.moderate = std::vector<std::string>{"ops-*"};
  const std::string token = mint_jwt(kSecret, in);
  ASSERT_FALSE(token.empty());
  JwtClaims out;
  ASSERT_EQ(verify(token, out), JwtError::None);
  EXPECT_EQ(out.sub, in.sub);
  EXPECT_EQ(out.name, "Ada \"the\" \\ Lovelace");  // the newline is a control character: dropped
  EXPECT_EQ(out.exp, in.exp);
  EXPECT_EQ(out.iat, in.iat);
  EXPECT_EQ(out.nbf, in.nbf);
  EXPECT_EQ(out.rooms, in.rooms);
  EXPECT_EQ(out.role, in.role);
  EXPECT_EQ(out.moderate, in.moderate);
  EXPECT_EQ(verify_jwt(token, "wrong", kNow, 0, out), JwtError::BadSignature);

  JwtClaims minimal;
  minimal.sub = "u9";
  minimal.exp = std::time(nullptr) + 60;
  // mint_jwt stamps iat with the real clock when unset; verify at that time.
  ASSERT_EQ(verify_jwt(mint_jwt(kSecret, minimal), kSecret, std::time(nullptr), 30, out),
            JwtError::None);
  EXPECT_EQ(out.name, "u9");
  EXPECT_TRUE(out.iat.has_value());
  EXPECT_FALSE(out.rooms.has_value());
  EXPECT_TRUE(out.role.empty());
  EXPECT_FALSE(out.moderate.has_value());
  EXPECT_EQ(mint_jwt("", minimal), "");
}

TEST(Jwt, NameLosesControlBidiAndZeroWidthCharacters) {
  JwtClaims in = basic_claims();
  // "Alice" with a right-to-left override, a zero-width space, a bell and a C1 control.
  in.name =
      "A\xE2\x80\xAEli\xE2\x80\x8B"
      "c\x07"
      "e\xC2\x85";
  JwtClaims out;
  ASSERT_EQ(verify(mint_jwt(kSecret, in), out), JwtError::None);
  EXPECT_EQ(out.name, "Alice");

  // 64 bytes of padding with one visible character: the name is that character.
  in.name = "M" + std::string(63, '\x01');
  ASSERT_EQ(verify(mint_jwt(kSecret, in), out), JwtError::None);
  EXPECT_EQ(out.name, "M");

  // Nothing visible: the user id stands in, as for an absent claim.
  in.name = "\xE2\x80\x8B\xE2\x81\xA6\x01";
  ASSERT_EQ(verify(mint_jwt(kSecret, in), out), JwtError::None);
  EXPECT_EQ(out.name, "u42");

  // The byte cap is unchanged: over 64 bytes is still refused, whatever the characters.
  const std::string long_name = sign_raw(
      kHs256Header, R"({"sub":"u1","exp":1700003600,"name":")" + std::string(65, '.') + "\"}");
  EXPECT_EQ(verify(long_name, out), JwtError::BadClaims);
}

TEST(Jwt, TokenExpiredSaturatesInsteadOfOverflowing) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  JwtClaims c = basic_claims();
  c.exp = kNow;
  EXPECT_FALSE(token_expired(c, kNow, 0));
  EXPECT_TRUE(token_expired(c, kNow + 1, 0));
  EXPECT_FALSE(token_expired(c, kNow + 30, 30));
  EXPECT_TRUE(token_expired(c, kNow + 31, 30));
  EXPECT_TRUE(token_expired(c, kNow + 1, -30));  // negative leeway counts as 0
  // exp + leeway would overflow: the sum saturates at INT64_MAX, which never passes.
  c.exp = kMax;
  EXPECT_FALSE(token_expired(c, kNow, 30));
  EXPECT_FALSE(token_expired(c, kMax, kMax));
  c.exp = kMax - 10;
  EXPECT_FALSE(token_expired(c, kMax, 30));
  EXPECT_TRUE(token_expired(c, kMax, 5));
  // The far past stays expired (no wrap to the future).
  c.exp = kMin;
  EXPECT_TRUE(token_expired(c, kNow, 30));
  EXPECT_TRUE(token_expired(c, kNow, kMax));
  EXPECT_FALSE(token_expired(c, kMin, 0));
}

TEST(Jwt, FailedVerifyLeavesOutUntouched) {
  JwtClaims out = basic_claims();
  EXPECT_EQ(verify(sign_raw(kHs256Header, R"({"sub":"x","exp":1})"), out), JwtError::Expired);
  EXPECT_EQ(out.sub, "u42");
}

TEST(Base64, DecodeAnyAcceptsBothAlphabetsWithAndWithoutPadding) {
  // 0xfb 0xff 0xbf encodes to "+/+/" (standard) and "-_-_" (url).
  std::string out;
  ASSERT_TRUE(base64_decode_any("+/+/", out));
  EXPECT_EQ(out, "\xfb\xff\xbf");
  ASSERT_TRUE(base64_decode_any("-_-_", out));
  EXPECT_EQ(out, "\xfb\xff\xbf");
  ASSERT_TRUE(base64_decode_any("QQ==", out));
  EXPECT_EQ(out, "A");
  ASSERT_TRUE(base64_decode_any("QQ", out));
  EXPECT_EQ(out, "A");
  ASSERT_TRUE(base64_decode_any("QUI=", out));
  EXPECT_EQ(out, "AB");
  ASSERT_TRUE(base64_decode_any("QUI", out));
  EXPECT_EQ(out, "AB");
  ASSERT_TRUE(base64_decode_any("QUJD", out));
  EXPECT_EQ(out, "ABC");
  ASSERT_TRUE(base64_decode_any("", out));
  EXPECT_EQ(out, "");
  // The phoenix.js authToken form: btoa(token) with '=' stripped.
  const std::string jwt = mint_jwt(kSecret, basic_claims());
  ASSERT_TRUE(base64_decode_any("ZXlKaGJHY2lPaUpJVXpJMU5pSjku", out));
  EXPECT_EQ(out, "eyJhbGciOiJIUzI1NiJ9.");
  std::string round;
  ASSERT_TRUE(base64_decode_any(base64url_encode(jwt), round));
  EXPECT_EQ(round, jwt);
}

TEST(Base64, DecodeAnyRejectsGarbage) {
  std::string out;
  for (std::string_view bad : {"Q", "QQ=", "QQ===", "Q===", "====", "=", "QUJD=", "QU JD", "QUJ\n",
                               "QU*D", "QUJD====", "Q=Q=", "QR==", "QUJ=", "\xff\xff"}) {
    EXPECT_FALSE(base64_decode_any(bad, out)) << bad;
  }
}

TEST(Base64, UrlEncodeMatchesRfc4648Vectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
}

}  // namespace
}  // namespace rtchat::proto

namespace rtchat::proto {
namespace {
TEST(JwtIat, IssuedInTheFutureBeyondLeewayIsNotYetValid) {
  JwtClaims c;
  c.sub = "alice";
  c.exp = 2'000'000'000;
  c.iat = 1'000'000'100;
  std::string token = mint_jwt("secret", c);
  JwtClaims out;
  EXPECT_EQ(verify_jwt(token, "secret", 1'000'000'000, 30, out), JwtError::NotYetValid);
  EXPECT_EQ(verify_jwt(token, "secret", 1'000'000'000, 100, out), JwtError::None);
}
}  // namespace
}  // namespace rtchat::proto
