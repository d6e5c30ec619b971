// The --cluster URL, shared by the cluster link and the cluster store (each opens its own
// connections to the same Redis or Redis Cluster).
#pragma once

#include <string_view>
#include <vector>

#include "server/cluster/slot_map.h"

namespace rtchat::server::cluster {

// "redis://HOST:PORT" (one Redis: cluster = false; port defaults to 6379) or
// "redis-cluster://HOST:PORT[,HOST:PORT...]" (seed nodes of a Redis Cluster: cluster = true).
// False when malformed.
bool parse_backend_url(std::string_view url, std::vector<RedisAddress>& seeds, bool& cluster);

}  // namespace rtchat::server::cluster
