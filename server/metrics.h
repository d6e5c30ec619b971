// Counters for /metrics. Each thread writes only its own instance (single writer, relaxed
// atomics: no lock, no shared cache line on the hot path); a scrape sums the instances.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace rtchat::server {

class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down (open connections, queue depths); same single-writer rule.
class Gauge {
 public:
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  void increment() { set(get() + 1); }
  void decrement() { set(get() - 1); }
  [[nodiscard]] uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Latency histogram in microseconds with fixed Prometheus buckets.
class LatencyHistogram {
 public:
  static constexpr std::array<uint64_t, 14> kBoundsUs = {
      50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};
  void observe(uint64_t us) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    buckets_[i].add();
    sum_us_.add(us);
  }
  [[nodiscard]] uint64_t bucket(size_t i) const { return buckets_[i].get(); }
  [[nodiscard]] uint64_t sum_us() const { return sum_us_.get(); }

 private:
  std::array<Counter, kBoundsUs.size() + 1> buckets_;  // last = +Inf
  Counter sum_us_;
};

// Close codes we count (index into ShardMetrics::closes).
inline constexpr std::array<uint16_t, 10> kCountedCloseCodes = {1000, 1001, 1002, 1003, 1007,
                                                                1008, 1009, 1011, 4001, 4008};

struct ShardMetrics {
  Counter connections_accepted;
  Gauge connections_open;
  Gauge websockets_open;
  Counter http_requests;
  Counter upgrades_rejected;
  Counter joins;
  Counter joins_rejected;
  Counter messages_in;         // client frames decoded
  Counter messages_published;  // new_msg acknowledged ok
  Counter publish_errors;
  Counter deliveries;  // frames queued to a client
  Counter bytes_in;
  Counter bytes_out;
  Counter rate_limited;
  Counter slow_consumer_closes;
  Counter late_completions;  // sockets whose cancelled requests had not completed in 2 s
  Counter presence_diffs;
  Counter typing_events;
  Counter accept_errors;
  Gauge rooms_owned;
  Gauge mailbox_backlog;                                      // values waiting in Outbox backlogs
  std::array<Counter, kCountedCloseCodes.size() + 1> closes;  // last = other codes
  LatencyHistogram publish_to_deliver;  // owner commit -> frame queued on a member shard

  void count_close(uint16_t code) {
    for (size_t i = 0; i < kCountedCloseCodes.size(); ++i) {
      if (kCountedCloseCodes[i] == code) {
        closes[i].add();
        return;
      }
    }
    closes.back().add();
  }
};

struct StorageMetrics {
  Counter commits;
  Counter messages_committed;
  Counter commit_failures;
  Counter reads;
  Gauge queue_depth;
  Counter retention_deleted;
  LatencyHistogram commit_latency;
};

// The cluster link's state for /healthz and /readyz: Off without --cluster. Written by the link
// thread, read by every shard (one relaxed atomic; no other state is shared).
enum class ClusterHealth : int { Off = 0, Up = 1, Down = 2 };
class ClusterStatus {
 public:
  void set(ClusterHealth h) { value_.store(static_cast<int>(h), std::memory_order_relaxed); }
  [[nodiscard]] ClusterHealth get() const {
    return static_cast<ClusterHealth>(value_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<int> value_{static_cast<int>(ClusterHealth::Off)};
};

}  // namespace rtchat::server
