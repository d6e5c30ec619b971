// Renders the per-thread metrics as Prometheus text exposition format (version 0.0.4).
#pragma once

#include <string>
#include <vector>

#include "server/metrics.h"

namespace rtchat::server {

// Reads every shard's counters (relaxed atomics, written by their own shard) and the storage
// thread's; safe to call from any shard. One sample per shard, labelled shard="N".
std::string render_prometheus(const std::vector<ShardMetrics*>& shards,
                              const StorageMetrics* storage);

}  // namespace rtchat::server
