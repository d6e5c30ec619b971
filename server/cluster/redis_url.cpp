#include "server/cluster/redis_url.h"

namespace rtchat::server::cluster {

bool parse_backend_url(std::string_view url, std::vector<RedisAddress>& seeds, bool& cluster) {
  constexpr std::string_view kSingle = "redis://";
  if (url.starts_with(kSingle)) {
    url.remove_prefix(kSingle.size());
    if (!url.empty() && url.back() == '/') url.remove_suffix(1);
    RedisAddress a;
    if (!parse_address(url, a) || url.find(',') != std::string_view::npos) return false;
    seeds = {std::move(a)};
    cluster = false;
    return true;
  }
  cluster = true;
  return parse_cluster_url(url, seeds);
}

}  // namespace rtchat::server::cluster
