#include "server/auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace rtchat::server {
namespace {

void digest(std::string_view s, unsigned char (&out)[SHA256_DIGEST_LENGTH]) {
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() + 1 ||
      !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
      authorization[kScheme.size()] != ' ') {
    return {};
  }
  std::string_view token = authorization.substr(kScheme.size() + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

ApiKeyCheck check_api_key(const std::vector<std::string>& keys, std::string_view authorization) {
  if (keys.empty()) return ApiKeyCheck::Off;
  std::string_view presented = bearer_token(authorization);
  if (presented.empty()) return ApiKeyCheck::Missing;
  unsigned char want[SHA256_DIGEST_LENGTH];
  unsigned char got[SHA256_DIGEST_LENGTH];
  digest(presented, got);
  bool match = false;
  for (const std::string& key : keys) {
    digest(key, want);
    // No early exit: the time taken does not say which key (if any) matched.
    match |= CRYPTO_memcmp(want, got, sizeof got) == 0;
  }
  return match ? ApiKeyCheck::Ok : ApiKeyCheck::Wrong;
}

}  // namespace rtchat::server
