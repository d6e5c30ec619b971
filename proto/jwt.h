// JWT (HS256 only) verification and minting for socket and HTTP authentication
// (docs/protocol.md: `sub` -> user id, `name` -> display name, optional `rooms` claim). In proto/
// because the server and the load tool share it (the tool never links server/).
//
// Everything here is a pure function of its arguments: no clock reads on the verify path (the
// caller passes `now_s`), no exceptions, no aborts on any input. Safe to call from any shard:
// per-thread scratch state (a simdjson parser and an HMAC context) lives in thread_locals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtchat::proto {

// Tokens longer than this are refused before any decoding: a real chat token is a few hundred
// bytes, and the cap bounds every buffer below (decoded JSON is at most 6 KiB).
inline constexpr size_t kMaxJwtBytes = 8 * 1024;
inline constexpr size_t kMaxJwtSubBytes = 128;  // user ids are short; more is abuse
inline constexpr size_t kMaxJwtNameBytes = 64;  // display names are shown in a list
inline constexpr size_t kMaxJwtRoleBytes = 32;  // a role is a short word ("moderator")

struct JwtClaims {
  std::string sub;  // user id (required, 1..128 bytes)
  // Display name: the claim with control, bidi and zero-width characters removed
  // (clean_display_text); verify sets it to sub when the claim is absent or has nothing visible.
  std::string name;
  int64_t exp = 0;  // required, seconds since the Unix epoch
  std::optional<int64_t> nbf, iat;
  // Optional "rooms" claim: room ids, or prefixes ending in '*' ("ops-*"). Absent = all rooms.
  std::optional<std::vector<std::string>> rooms;
  // Moderation (docs/protocol.md "Moderation"): "role": "moderator" may delete any message in
  // every room; "moderate" lists rooms or '*' prefixes (matched like rooms) where it may. Absent:
  // a user deletes only its own messages.
  std::string role;  // at most kMaxJwtRoleBytes; "" = none
  std::optional<std::vector<std::string>> moderate;
};

enum class JwtError : uint8_t {
  None,
  Malformed,       // not three dot-separated parts, an empty part, or over kMaxJwtBytes
  BadBase64,       // a part is not unpadded, canonical base64url
  BadJson,         // header or payload is not a JSON object
  UnsupportedAlg,  // header alg missing or anything but "HS256" (including "none")
  BadSignature,    // HMAC-SHA256 mismatch (or an empty secret, which never verifies)
  Expired,         // now > exp + leeway
  NotYetValid,     // nbf > now + leeway
  MissingSub,      // no "sub", or an empty one
  MissingExp,      // no "exp"
  BadClaims,  // a claim of the wrong type or size (sub, name, exp, nbf, iat, rooms, role, moderate)
};

// A short human reason ("token expired"), fit for "policy violation: <reason>" close frames and
// logs. Never contains token material. The view points at static storage.
std::string_view jwt_error_reason(JwtError error);

// Verifies `token` against `secret` at time `now_s` (seconds since epoch), allowing `leeway_s`
// seconds of clock skew on exp and nbf (negative leeway counts as 0). Order of checks: shape,
// header (alg must be HS256), signature (constant-time compare), and only then payload JSON and
// claims, so unsigned payloads are never parsed. `out` is written only when the result is None.
[[nodiscard]] JwtError verify_jwt(std::string_view token, std::string_view secret, int64_t now_s,
                                  int64_t leeway_s, JwtClaims& out);

// Whether a token with these claims has expired at now_s: now_s > exp + leeway_s, computed
// without overflow (exp comes from the token and may be near INT64_MAX or INT64_MIN; the sum
// saturates). Negative leeway counts as 0. The rule verify_jwt applies, for re-checks of live
// sockets.
[[nodiscard]] bool token_expired(const JwtClaims& claims, int64_t now_s, int64_t leeway_s);
[[nodiscard]] bool token_expired(int64_t exp, int64_t now_s, int64_t leeway_s);

// Signs `claims` with HS256. Writes sub, name (when empty: sub cut as verify_jwt does), exp, iat
// (the current system time when claims.iat is unset), nbf and rooms when set. Returns "" only if
// HMAC fails or `secret` is empty. For tests, tools and the dev login endpoint; not a data-path
// function.
std::string mint_jwt(std::string_view secret, const JwtClaims& claims);

// Whether the token's rooms claim admits `room_id`: no claim -> true; an entry matches exactly,
// or, when it ends in '*', as a prefix ("ops-*" admits "ops-1"; "*" admits everything).
bool room_allowed(const JwtClaims& claims, std::string_view room_id);

// Whether the claims grant the moderator right in `room_id`: role "moderator" (every room), or a
// "moderate" entry matching it as room_allowed matches "rooms" (an absent list grants nothing).
bool may_moderate(const JwtClaims& claims, std::string_view room_id);

}  // namespace rtchat::proto
