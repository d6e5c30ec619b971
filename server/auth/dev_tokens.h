// Minting tokens outside an identity provider: POST /api/dev/token (dev mode) and
// `rtchat-server token`. Pure helpers, shared by both so they cut names and compute expiries
// the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtchat::server {

// The dev endpoint signs short-lived session tokens for a browser tab: a week is the most.
inline constexpr int64_t kMaxDevEndpointTtlS = 7 * 24 * 3600;
// The CLI also mints tokens for services; ten years is long-lived, anything beyond is a typo (and
// a huge value would overflow exp into the past).
inline constexpr int64_t kMaxMintTtlS = 10 * 36525 * 24 * 36;  // 10 x 365.25 days
inline constexpr int64_t kDefaultDevTtlS = 3600;

struct DevTokenRequest {
  std::string user;
  int64_t ttl_s = kDefaultDevTtlS;
};

// {"user": "alice", "ttl": 3600}; ttl optional. nullopt on anything else (the range is checked by
// expiry_after).
std::optional<DevTokenRequest> parse_dev_token_request(std::string_view body);

// now_s + ttl_s, or nullopt when ttl_s is not in 1..max_ttl_s. Saturates at INT64_MAX rather than
// wrapping into the past for a clock near the end of time.
std::optional<int64_t> expiry_after(int64_t now_s, int64_t ttl_s, int64_t max_ttl_s);

}  // namespace rtchat::server
