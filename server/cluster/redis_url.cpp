#include "server/cluster/redis_url.h"

#include <charconv>

namespace rtchat::server {

bool parse_redis_url(const std::string& url, std::string& host, int& port) {
  std::string_view u(url);
  if (!u.starts_with("redis://")) return false;
  u.remove_prefix(8);
  if (!u.empty() && u.back() == '/') u.remove_suffix(1);
  size_t colon = u.rfind(':');
  port = 6379;
  if (colon != std::string_view::npos) {
    auto p = u.substr(colon + 1);
    auto r = std::from_chars(p.data(), p.data() + p.size(), port);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || port <= 0 || port > 65535) {
      return false;
    }
    u = u.substr(0, colon);
  }
  host = u;
  return !host.empty();
}

}  // namespace rtchat::server
