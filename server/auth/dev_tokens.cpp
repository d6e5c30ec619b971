#include "server/auth/dev_tokens.h"

#include <simdjson.h>

#include <limits>

#include "proto/display_text.h"

namespace rtchat::server {

std::optional<DevTokenRequest> parse_dev_token_request(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  DevTokenRequest out;
  std::string_view user;
  if (doc["user"].get_string().get(user) != simdjson::SUCCESS) return std::nullopt;
  out.user = std::string(user);
  auto ttl = doc["ttl"];
  if (ttl.error() == simdjson::SUCCESS && ttl.get_int64().get(out.ttl_s) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return out;
}

std::optional<int64_t> expiry_after(int64_t now_s, int64_t ttl_s, int64_t max_ttl_s) {
  if (ttl_s <= 0 || ttl_s > max_ttl_s) return std::nullopt;
  if (now_s > std::numeric_limits<int64_t>::max() - ttl_s) {
    return std::numeric_limits<int64_t>::max();
  }
  return now_s + ttl_s;
}

}  // namespace rtchat::server
