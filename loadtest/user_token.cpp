#include "loadtest/user_token.h"

#include <ctime>

#include "proto/jwt.h"

namespace rtchat::loadtest {

std::string mint_user_token(std::string_view secret, size_t index, int64_t run_s) {
  rtchat::proto::JwtClaims claims;
  claims.sub = "lt" + std::to_string(index);
  claims.name = "load" + std::to_string(index);
  claims.iat = static_cast<int64_t>(std::time(nullptr));
  claims.exp = *claims.iat + run_s + 3600;
  return rtchat::proto::mint_jwt(secret, claims);
}

}  // namespace rtchat::loadtest
