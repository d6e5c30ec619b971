// Cluster mode's history store (docs/cluster.md): reads come from the room's Redis stream, which
// is the cluster's one ordered log, so every node answers history and recovery with the same
// messages and ids. Appends (each message this node delivered) go to the node's own store, a
// durable local copy that also answers reads while Redis is unreachable.
#pragma once

#include <memory>

#include "server/config.h"
#include "server/storage/store.h"

namespace rtchat::server {

// Wraps local (SQLite or memory). Lives on the storage thread like any Store; its blocking Redis
// calls (short timeouts) happen there, never on a shard. Throws on a malformed --cluster URL.
std::unique_ptr<Store> make_cluster_store(std::unique_ptr<Store> local, const ServerConfig& config);

}  // namespace rtchat::server
