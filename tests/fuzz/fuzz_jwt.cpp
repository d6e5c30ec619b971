// Fuzzes JWT decoding and verification (proto/jwt.h). Each input is used three ways: as a
// token verbatim (almost always stopped at shape, Base64, header or signature), as the payload JSON
// of a token signed with the right key (so the claim parser is reached), and as Base64 text. Beyond
// no crash, leak or UB: a verified token's claims obey the documented bounds and survive a
// mint -> verify round trip.
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "proto/base64.h"
#include "proto/jwt.h"

namespace {

using rtchat::fuzz::require;
namespace proto = rtchat::proto;
using rtchat::proto::base64_decode_any;
using rtchat::proto::base64url_encode;

constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdef";
constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kLeeway = 30;

std::string sign(std::string_view header_json, std::string_view payload_json) {
  std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &mac_len);
  token += ".";
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
  return token;
}

void check_verified(const proto::JwtClaims& c) {
  require(!c.sub.empty() && c.sub.size() <= proto::kMaxJwtSubBytes);
  // Without a name claim the name is sub cut to the cap (it once was the whole sub, up to 128
  // bytes, and mint_jwt then signed tokens verify_jwt refused: found by this target).
  require(c.name.size() <= proto::kMaxJwtNameBytes);
  // Mint what was read and read it back: the same claims. An absent iat is pinned to kNow, as
  // mint_jwt would otherwise stamp the wall clock, which is not the kNow verification uses.
  proto::JwtClaims minted = c;
  if (!minted.iat) minted.iat = kNow;
  std::string again = proto::mint_jwt(kSecret, minted);
  require(!again.empty());
  proto::JwtClaims d;
  require(proto::verify_jwt(again, kSecret, kNow, kLeeway, d) == proto::JwtError::None);
  require(d.sub == c.sub && d.exp == c.exp && d.nbf == c.nbf && d.iat == minted.iat &&
          d.rooms == c.rooms && d.role == c.role && d.moderate == c.moderate);
  if (!c.name.empty()) require(d.name == c.name);
  if (c.name.empty())
    require(d.name.size() <= proto::kMaxJwtNameBytes && c.sub.starts_with(d.name));
  // Room checks on the claims never fail hard, whatever the ids.
  (void)proto::room_allowed(c, c.sub);
  (void)proto::room_allowed(c, "");
  (void)proto::may_moderate(c, c.sub);
}

proto::JwtError verify(std::string_view token, proto::JwtClaims& out) {
  proto::JwtError e = proto::verify_jwt(token, kSecret, kNow, kLeeway, out);
  require(!proto::jwt_error_reason(e).empty() || e == proto::JwtError::None);
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  thread_local std::string storage;
  const std::string_view text = rtchat::fuzz::misaligned_copy(storage, data, size);

  proto::JwtClaims claims;
  if (verify(text, claims) == proto::JwtError::None) check_verified(claims);

  // Signed with the right key: verification reaches the header and claim parsers.
  proto::JwtClaims signed_claims;
  if (verify(sign(R"({"alg":"HS256","typ":"JWT"})", text), signed_claims) ==
      proto::JwtError::None) {
    check_verified(signed_claims);
  }
  // The input as a header instead (alg handling, "none" and friends); the payload is valid.
  proto::JwtClaims header_claims;
  (void)verify(sign(text, R"({"sub":"u","exp":1700000100})"), header_claims);
  // A wrong key never verifies.
  proto::JwtClaims wrong;
  require(proto::verify_jwt(sign(R"({"alg":"HS256","typ":"JWT"})", text), "another-secret", kNow,
                            kLeeway, wrong) != proto::JwtError::None);

  // Base64 helpers: decoding what was encoded gives the input back.
  std::string decoded;
  (void)base64_decode_any(text, decoded);
  std::string round;
  require(base64_decode_any(base64url_encode(text), round) && round == text);
  return 0;
}
