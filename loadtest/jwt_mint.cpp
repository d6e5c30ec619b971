#include "loadtest/jwt_mint.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/phoenix_codec.h"

namespace rtchat::loadtest {

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = at(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (bytes.size() - i == 2) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

std::string mint_hs256(std::string_view secret, std::string_view sub, std::string_view name,
                       int64_t now_unix_s, int64_t ttl_s) {
  std::string claims = "{\"sub\":";
  proto::phoenix::append_json_string(claims, sub);
  claims += ",\"name\":";
  proto::phoenix::append_json_string(claims, name);
  claims += ",\"iat\":" + std::to_string(now_unix_s);
  claims += ",\"exp\":" + std::to_string(now_unix_s + ttl_s) + "}";
  std::string signing_input = base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_len);
  signing_input += '.';
  signing_input +=
      base64url(std::string_view(reinterpret_cast<const char*>(mac), static_cast<size_t>(mac_len)));
  return signing_input;
}

}  // namespace rtchat::loadtest
