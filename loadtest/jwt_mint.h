// Mints HS256 JWTs for load-test users, the same shape the server verifies (sub, name, iat, exp).
// Each connection gets its own user id, so presence and per-user limits see distinct users.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::loadtest {

// header.claims.signature, base64url without padding. iat = now_unix_s, exp = iat + ttl_s.
std::string mint_hs256(std::string_view secret, std::string_view sub, std::string_view name,
                       int64_t now_unix_s, int64_t ttl_s);

// RFC 4648 section 5 alphabet, no padding.
std::string base64url(std::string_view bytes);

}  // namespace rtchat::loadtest
