// The process: listeners, shards, the storage thread and the mailboxes between them.
#pragma once

#include "server/config.h"

namespace rtchat::server {

// Runs the server until SIGTERM/SIGINT, then drains. Returns the process exit code.
// Throws std::runtime_error on startup failures (port in use, unwritable data dir).
int run_server(ServerConfig config);

}  // namespace rtchat::server
