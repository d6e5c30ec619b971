#include "server/metrics_text.h"

#include <algorithm>
#include <cstdio>

namespace rtchat::server {
namespace {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void header(const char* name, const char* type, const char* help) {
    printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
  }
  void sample(const char* name, const std::string& labels, uint64_t value) {
    printf("%s%s %llu\n", name, braced(labels).c_str(), static_cast<unsigned long long>(value));
  }
  // Cumulative buckets in seconds, then _sum and _count, as Prometheus expects.
  void histogram(const char* name, const std::string& labels, const LatencyHistogram& h) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= LatencyHistogram::kBoundsUs.size(); ++b) {
      cumulative += h.bucket(b);
      if (b < LatencyHistogram::kBoundsUs.size()) {
        printf("%s_bucket{%sle=\"%g\"} %llu\n", name, prefix.c_str(),
               static_cast<double>(LatencyHistogram::kBoundsUs[b]) / 1e6,
               static_cast<unsigned long long>(cumulative));
      } else {
        printf("%s_bucket{%sle=\"+Inf\"} %llu\n", name, prefix.c_str(),
               static_cast<unsigned long long>(cumulative));
      }
    }
    printf("%s_sum%s %g\n", name, braced(labels).c_str(), static_cast<double>(h.sum_us()) / 1e6);
    printf("%s_count%s %llu\n", name, braced(labels).c_str(),
           static_cast<unsigned long long>(cumulative));
  }

 private:
  static std::string braced(const std::string& labels) {
    return labels.empty() ? std::string() : "{" + labels + "}";
  }
  template <typename... Args>
  void printf(const char* fmt, Args... args) {
    char line[512];
    int n = std::snprintf(line, sizeof line, fmt, args...);
    if (n > 0) out_.append(line, std::min(static_cast<size_t>(n), sizeof line - 1));
  }
  std::string& out_;
};

std::string shard_label(size_t i) { return "shard=\"" + std::to_string(i) + "\""; }

// One sample per shard for each of the shards' counters and gauges.
void render_shard_counters(Writer& w, const std::vector<ShardMetrics*>& shards) {
  auto per_shard = [&](const char* name, const char* type, const char* help, auto field) {
    w.header(name, type, help);
    for (size_t i = 0; i < shards.size(); ++i) w.sample(name, shard_label(i), field(*shards[i]));
  };
#define RTCHAT_SHARD_METRIC(name, type, help, member) \
  per_shard(name, type, help, [](const ShardMetrics& m) { return m.member.get(); })
  RTCHAT_SHARD_METRIC("rtchat_connections", "gauge", "Open TCP connections", connections_open);
  RTCHAT_SHARD_METRIC("rtchat_websockets", "gauge", "Open WebSocket sessions", websockets_open);
  RTCHAT_SHARD_METRIC("rtchat_connections_accepted_total", "counter", "Accepted connections",
                      connections_accepted);
  RTCHAT_SHARD_METRIC("rtchat_http_requests_total", "counter", "HTTP requests", http_requests);
  RTCHAT_SHARD_METRIC("rtchat_upgrades_rejected_total", "counter",
                      "Refused upgrades (auth, origin, limits)", upgrades_rejected);
  RTCHAT_SHARD_METRIC("rtchat_joins_total", "counter", "Accepted joins", joins);
  RTCHAT_SHARD_METRIC("rtchat_joins_rejected_total", "counter", "Refused joins", joins_rejected);
  RTCHAT_SHARD_METRIC("rtchat_messages_in_total", "counter", "Client frames decoded", messages_in);
  RTCHAT_SHARD_METRIC("rtchat_messages_published_total", "counter", "new_msg acknowledged",
                      messages_published);
  RTCHAT_SHARD_METRIC("rtchat_publish_errors_total", "counter", "new_msg refused or failed",
                      publish_errors);
  RTCHAT_SHARD_METRIC("rtchat_deliveries_total", "counter", "Broadcast frames queued to clients",
                      deliveries);
  RTCHAT_SHARD_METRIC("rtchat_bytes_in_total", "counter", "Bytes received", bytes_in);
  RTCHAT_SHARD_METRIC("rtchat_bytes_out_total", "counter", "Bytes sent", bytes_out);
  RTCHAT_SHARD_METRIC("rtchat_rate_limited_total", "counter", "Pushes refused by the rate limit",
                      rate_limited);
  RTCHAT_SHARD_METRIC("rtchat_slow_consumer_closes_total", "counter", "Closes with 4008",
                      slow_consumer_closes);
  RTCHAT_SHARD_METRIC("rtchat_late_completions_total", "counter",
                      "Closed sockets whose cancelled requests were still pending after 2 s",
                      late_completions);
  RTCHAT_SHARD_METRIC("rtchat_presence_diffs_total", "counter", "presence_diff broadcasts",
                      presence_diffs);
  RTCHAT_SHARD_METRIC("rtchat_typing_total", "counter", "typing events relayed", typing_events);
  RTCHAT_SHARD_METRIC("rtchat_token_refreshes_total", "counter", "Token refreshes accepted",
                      token_refreshes);
  RTCHAT_SHARD_METRIC("rtchat_token_refreshes_refused_total", "counter",
                      "Token refreshes answered with an error", token_refresh_refused);
  RTCHAT_SHARD_METRIC("rtchat_read_marks_total", "counter", "mark_read pushes stored", read_marks);
  RTCHAT_SHARD_METRIC("rtchat_accept_errors_total", "counter", "accept failures", accept_errors);
  RTCHAT_SHARD_METRIC("rtchat_rooms_owned", "gauge", "Rooms owned by the shard", rooms_owned);
  RTCHAT_SHARD_METRIC("rtchat_mailbox_backlog", "gauge",
                      "Cross-thread messages waiting in producer backlogs", mailbox_backlog);
#undef RTCHAT_SHARD_METRIC
}

// Close codes and the publish-to-deliver histogram, per shard.
void render_shard_breakdowns(Writer& w, const std::vector<ShardMetrics*>& shards) {
  w.header("rtchat_closes_total", "counter", "WebSocket closes sent, by code");
  for (size_t i = 0; i < shards.size(); ++i) {
    for (size_t k = 0; k <= kCountedCloseCodes.size(); ++k) {
      std::string code =
          k < kCountedCloseCodes.size() ? std::to_string(kCountedCloseCodes[k]) : "other";
      w.sample("rtchat_closes_total", shard_label(i) + ",code=\"" + code + "\"",
               shards[i]->closes[k].get());
    }
  }
  w.header("rtchat_publish_to_deliver_seconds", "histogram",
           "Commit on the owner shard to frame queued on a member shard");
  for (size_t i = 0; i < shards.size(); ++i) {
    w.histogram("rtchat_publish_to_deliver_seconds", shard_label(i), shards[i]->publish_to_deliver);
  }
}

void render_storage(Writer& w, const StorageMetrics* storage) {
  auto one = [&](const char* name, const char* type, const char* help, uint64_t v) {
    w.header(name, type, help);
    w.sample(name, "", v);
  };
  one("rtchat_storage_commits_total", "counter", "Group commits", storage->commits.get());
  one("rtchat_storage_messages_total", "counter", "Messages committed",
      storage->messages_committed.get());
  one("rtchat_storage_commit_failures_total", "counter", "Failed commits",
      storage->commit_failures.get());
  one("rtchat_storage_reads_total", "counter", "History and recovery reads", storage->reads.get());
  one("rtchat_storage_queue_depth", "gauge", "Requests waiting for the storage thread",
      storage->queue_depth.get());
  one("rtchat_storage_retention_deleted_total", "counter", "Messages removed by retention",
      storage->retention_deleted.get());
  w.header("rtchat_storage_commit_seconds", "histogram", "Commit latency");
  w.histogram("rtchat_storage_commit_seconds", "", storage->commit_latency);
}

}  // namespace

std::string render_prometheus(const std::vector<ShardMetrics*>& shards,
                              const StorageMetrics* storage) {
  std::string out;
  out.reserve(8192);
  Writer w(out);
  render_shard_counters(w, shards);
  render_shard_breakdowns(w, shards);
  if (storage != nullptr) render_storage(w, storage);
  return out;
}

}  // namespace rtchat::server
