// The --cluster URL, shared by the cluster link and the cluster store (each opens its own
// connection to the same Redis).
#pragma once

#include <string>

namespace rtchat::server {

// host and port from "redis://HOST:PORT" (port defaults to 6379). False when malformed.
bool parse_redis_url(const std::string& url, std::string& host, int& port);

}  // namespace rtchat::server
