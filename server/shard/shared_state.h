// What every shard may read (immutable after start, atomics, or internally locked counters), and
// the mailboxes of one shard: both built by Server before the threads start.
#pragma once

#include <atomic>
#include <vector>

#include "core/keyed_counters.h"
#include "core/mailbox.h"
#include "server/config.h"
#include "server/messages/shard_message.h"
#include "server/messages/storage_messages.h"
#include "server/metrics.h"
#include "server/net/static_files.h"

namespace rtchat::server {

struct SharedState {
  const ServerConfig* config = nullptr;
  const StaticFiles* static_files = nullptr;
  std::vector<ShardMetrics*> shard_metrics;
  const StorageMetrics* storage_metrics = nullptr;
  const ClusterStatus* cluster_status = nullptr;  // /healthz, /readyz
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> shards_running{0};
  core::KeyedCounters sockets_per_user;  // --max-conns-per-user, across shards
  core::KeyedCounters sockets_per_ip;    // --max-conns-per-ip, across shards
};

struct ShardWiring {
  std::vector<core::Mailbox<ShardMessage>*> inbox_from;  // [source shard] -> this shard
  std::vector<core::Mailbox<ShardMessage>*> outbox_to;   // this shard -> [target shard]
  core::Mailbox<StorageRequest>* to_storage = nullptr;
  core::Mailbox<StorageReply>* from_storage = nullptr;
};

}  // namespace rtchat::server
