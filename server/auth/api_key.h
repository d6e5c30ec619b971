// The server API's credential (docs/protocol.md "Server API"): `Authorization: Bearer <key>`,
// checked against the keys of --api-key / RTCHAT_API_KEY. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtchat::server {

enum class ApiKeyCheck : uint8_t {
  Off,      // no key configured: the key-only routes do not exist (404)
  Missing,  // no "Bearer <key>" header (401)
  Wrong,    // a key that is none of the configured ones (401)
  Ok,
};

// The token of an "Authorization: Bearer <token>" header value; "" when the header is absent or
// uses another scheme (the scheme name is case-insensitive, RFC 9110 11.1).
std::string_view bearer_token(std::string_view authorization);

// Compares the presented key with every configured key in constant time: SHA-256 digests of both
// compared with CRYPTO_memcmp, so neither the content nor the length of a key leaks through
// timing, and every key is compared whichever matches.
ApiKeyCheck check_api_key(const std::vector<std::string>& keys, std::string_view authorization);

}  // namespace rtchat::server
