// What a run measured, and its three renderings: the human table, one JSON line and the
// per-second CSV. The configuration is printed with the numbers so any figure can be reproduced.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "loadtest/latency_histogram.h"
#include "loadtest/run_counters.h"
#include "loadtest/scenario_config.h"

namespace rtchat::loadtest {

// One row of the per-second time series.
struct SecondRow {
  double t_s = 0;  // seconds since the start of the run
  uint64_t attempted = 0;
  uint64_t open = 0;     // joined and not lost
  double out_per_s = 0;  // publishes sent
  double in_per_s = 0;   // deliveries received
  uint64_t p50_ns = 0;   // this second's deliveries
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
  uint64_t errors = 0;  // cumulative failures of every kind
  double cpu_pct = 0;   // generator CPU, 100 = one core
  int64_t server_rss_kib = -1;
  double server_cpu_pct = -1;  // with --server-pid, 100 = one core
};

struct RunReport {
  ScenarioConfig config;
  RunCounters totals;
  LatencyHistogram connect;
  LatencyHistogram join;
  LatencyHistogram e2e;
  LatencyHistogram ack;
  uint64_t expected_deliveries = 0;  // sum over rooms of acked x joined members
  bool is_complete = false;          // every worker sent its Final: expected and loss are known
  double wall_s = 0;
  double setup_s = 0;  // first connect until every connection settled
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  int64_t rss_before_kib = -1;  // server, before the first connect
  int64_t rss_joined_kib = -1;  // after every connection joined
  int64_t rss_end_kib = -1;     // at the end of the measured window, before closing
  int64_t rss_max_kib = -1;
  // CPU spent from the first connect until every connection settled (the join storm), by the
  // server (-1: no --server-pid) and by this tool with its worker processes: a join storm on a
  // shared machine is bounded by whichever side runs out of CPU first.
  double setup_server_cpu_s = -1;
  double setup_generator_cpu_s = -1;
  double server_cpu_s = -1;      // server CPU from GO to the end of the drain; -1 if unknown
  double server_cpu_wall_s = 0;  // the wall time server_cpu_s was measured over
  std::vector<SecondRow> series;
  std::string first_error;  // the first error any worker saw
  std::string fatal;        // non-empty: the run could not complete (exit status 1)

  [[nodiscard]] int64_t lost_deliveries() const {
    return static_cast<int64_t>(expected_deliveries) -
           static_cast<int64_t>(totals[Counter::Received]);
  }
  [[nodiscard]] double delivered_per_s() const;
  [[nodiscard]] double cpu_pct() const;
  // Server bytes per joined connection from RSS before and at the end (idle scenario); -1 if
  // unknown.
  [[nodiscard]] double server_bytes_per_connection() const;
};

std::string format_config(const ScenarioConfig& config);
void print_table(const RunReport& report, FILE* out);
std::string json_line(const RunReport& report);
// False when the file cannot be written.
bool write_csv(const RunReport& report, const std::string& path);
// "[  3s] conns 200/200 | out 100/s in 2000/s | p99 1.23 ms | err 0 | cpu 12%"
std::string progress_line(const SecondRow& row, uint64_t connections);

}  // namespace rtchat::loadtest
