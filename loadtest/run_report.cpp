#include "loadtest/run_report.h"

#include <cinttypes>
#include <cstdarg>

#include "proto/phoenix_codec.h"

namespace rtchat::loadtest {

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string latency_row(const char* name, const LatencyHistogram& h) {
  if (h.count() == 0) return fmt("  %-18s (no samples)\n", name);
  return fmt("  %-18s n=%-9" PRIu64 " p50 %8.3f  p90 %8.3f  p99 %8.3f  p99.9 %8.3f  max %8.3f ms\n",
             name, h.count(), ms(h.percentile(0.5)), ms(h.percentile(0.9)), ms(h.percentile(0.99)),
             ms(h.percentile(0.999)), ms(h.max()));
}

void json_latency(std::string& out, const char* name, const LatencyHistogram& h) {
  out += fmt(",\"%s\":{\"count\":%" PRIu64
             ",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
             "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f}",
             name, h.count(), ms(h.percentile(0.5)), ms(h.percentile(0.9)), ms(h.percentile(0.99)),
             ms(h.percentile(0.999)), ms(h.max()), h.mean() / 1e6);
}

const char* format_name(client::Format f) {
  return f == client::Format::Binary ? "binary" : "json";
}

}  // namespace

double RunReport::delivered_per_s() const {
  return config.duration_s > 0
             ? static_cast<double>(totals[Counter::ReceivedMeasured]) / config.duration_s
             : 0.0;
}

double RunReport::cpu_pct() const {
  return wall_s > 0 ? 100.0 * (cpu_user_s + cpu_sys_s) / wall_s : 0.0;
}

double RunReport::server_bytes_per_connection() const {
  const uint64_t joined = totals[Counter::ConnJoined];
  if (rss_before_kib < 0 || rss_end_kib < 0 || joined == 0) return -1;
  return static_cast<double>(rss_end_kib - rss_before_kib) * 1024.0 / static_cast<double>(joined);
}

std::string format_config(const ScenarioConfig& c) {
  return fmt(
      "target %s:%u  format %s  connections %u  rooms %u  publishers %u  rate %.3g/s per "
      "publisher (%.4g/s total)  msg-size %u B  warmup %.3g s  duration %.3g s  ramp %.4g/s"
      "  procs %u  threads %u  source-addrs %u%s",
      c.host.c_str(), c.port, format_name(c.format), c.connections, c.rooms, c.publishers,
      c.per_publisher_rate(), c.per_publisher_rate() * c.publishers, c.msg_size, c.warmup_s,
      c.duration_s, c.ramp, c.procs, c.threads, c.source_addrs,
      c.mark_read                ? "  mark-read"
      : c.heartbeat_per_delivery ? "  heartbeat-per-delivery"
                                 : "");
}

std::string progress_line(const SecondRow& r, uint64_t connections) {
  std::string s =
      fmt("[%5.0fs] conns %" PRIu64 "/%" PRIu64 " open (%" PRIu64
          " tried) | out %.0f/s in %.0f/s | p99 %.2f ms max %.2f ms | err %" PRIu64 " | cpu %.0f%%",
          r.t_s, r.open, connections, r.attempted, r.out_per_s, r.in_per_s, ms(r.p99_ns),
          ms(r.max_ns), r.errors, r.cpu_pct);
  if (r.server_cpu_pct >= 0) s += fmt(" | server cpu %.0f%%", r.server_cpu_pct);
  if (r.server_rss_kib >= 0)
    s += fmt(" | server rss %.1f MiB", static_cast<double>(r.server_rss_kib) / 1024.0);
  return s;
}

void print_table(const RunReport& r, FILE* out) {
  const RunCounters& t = r.totals;
  std::string s;
  s += "rtchat-loadtest results\n";
  s += "  config: " + format_config(r.config) + "\n";
  s += fmt("  connections: attempted %" PRIu64 "  joined %" PRIu64 "  failed %" PRIu64
           " (tcp %" PRIu64 ", upgrade %" PRIu64 ", join %" PRIu64 ", timeout %" PRIu64
           ")  lost during run %" PRIu64 "\n",
           t[Counter::ConnAttempted], t[Counter::ConnJoined], t.failed(), t[Counter::ConnTcpFailed],
           t[Counter::ConnUpgradeFailed], t[Counter::ConnJoinFailed], t[Counter::ConnTimedOut],
           t[Counter::ConnLost]);
  if (r.setup_s > 0) {
    s += fmt("  setup: %.2f s until every connection settled (%.0f joins/s)\n", r.setup_s,
             static_cast<double>(t[Counter::ConnJoined]) / r.setup_s);
  }
  if (r.setup_generator_cpu_s >= 0 && t[Counter::ConnJoined] > 0) {
    // CPU per joined socket: what one core could sustain on its own, whichever side is shown.
    const auto per_join_us = [&](double cpu_s) {
      return 1e6 * cpu_s / static_cast<double>(t[Counter::ConnJoined]);
    };
    s += fmt("  setup cpu: generator %.2f s (%.0f us per join)", r.setup_generator_cpu_s,
             per_join_us(r.setup_generator_cpu_s));
    if (r.setup_server_cpu_s >= 0) {
      s += fmt("  server %.2f s (%.0f us per join: %.0f joins/s per core)", r.setup_server_cpu_s,
               per_join_us(r.setup_server_cpu_s),
               r.setup_server_cpu_s > 0 ? 1e6 / per_join_us(r.setup_server_cpu_s) : 0.0);
    }
    s += "\n";
  }
  s += fmt(
      "  messages: published %" PRIu64 "  acked %" PRIu64 "  errors %" PRIu64
      " (rate limited %" PRIu64 ")  unanswered %" PRId64 "\n",
      t[Counter::Published], t[Counter::Acked], t[Counter::PublishErrors], t[Counter::RateLimited],
      static_cast<int64_t>(t[Counter::Published] - t[Counter::Acked] - t[Counter::PublishErrors]));
  const double loss_pct = r.expected_deliveries > 0
                              ? 100.0 * static_cast<double>(r.lost_deliveries()) /
                                    static_cast<double>(r.expected_deliveries)
                              : 0.0;
  if (r.is_complete) {
    s += fmt("  deliveries: expected %" PRIu64 "  received %" PRIu64 "  loss %" PRId64
             " (%.3f%%)  order violations %" PRIu64 "  duplicates %" PRIu64 "\n",
             r.expected_deliveries, t[Counter::Received], r.lost_deliveries(), loss_pct,
             t[Counter::OrderViolations], t[Counter::Duplicates]);
  } else {
    s += fmt("  deliveries: received %" PRIu64
             " (expected unknown: the run did not finish)  order "
             "violations %" PRIu64 "  duplicates %" PRIu64 "\n",
             t[Counter::Received], t[Counter::OrderViolations], t[Counter::Duplicates]);
  }
  s +=
      fmt("  throughput (measured window): %.0f deliveries/s  %.0f publishes/s  in %.2f MiB  out "
          "%.2f MiB total\n",
          r.delivered_per_s(),
          r.config.duration_s > 0
              ? static_cast<double>(t[Counter::PublishedMeasured]) / r.config.duration_s
              : 0.0,
          static_cast<double>(t[Counter::BytesIn]) / 1048576.0,
          static_cast<double>(t[Counter::BytesOut]) / 1048576.0);
  s += "  latency:\n";
  s += latency_row("end-to-end", r.e2e);
  s += latency_row("publish->ack", r.ack);
  s += latency_row("connect (to 101)", r.connect);
  s += latency_row("join", r.join);
  s += fmt(
      "  generator: cpu %.1f%% of one core (user %.2f s, sys %.2f s, wall %.2f s)  send lag max "
      "%.2f ms  protocol errors %" PRIu64 "  presence frames %" PRIu64 "\n",
      r.cpu_pct(), r.cpu_user_s, r.cpu_sys_s, r.wall_s,
      static_cast<double>(t[Counter::SendLagMaxUs]) / 1000.0, t[Counter::ProtocolErrors],
      t[Counter::PresenceFrames]);
  if (r.rss_before_kib >= 0) {
    s += fmt("  server rss: before %" PRId64 " KiB  joined %" PRId64 " KiB  end %" PRId64
             " KiB  max %" PRId64 " KiB",
             r.rss_before_kib, r.rss_joined_kib, r.rss_end_kib, r.rss_max_kib);
    const double per = r.server_bytes_per_connection();
    if (per >= 0) s += fmt("  => %.0f bytes per connection", per);
    s += "\n";
  }
  if (r.server_cpu_s >= 0 && r.server_cpu_wall_s > 0) {
    s += fmt("  server cpu (publishing + drain): %.2f s over %.2f s = %.1f%% of one core",
             r.server_cpu_s, r.server_cpu_wall_s, 100.0 * r.server_cpu_s / r.server_cpu_wall_s);
    s += "\n";
  }
  if (!r.first_error.empty()) s += "  first error: " + r.first_error + "\n";
  if (!r.fatal.empty()) s += "  FAILED: " + r.fatal + "\n";
  std::fputs(s.c_str(), out);
}

std::string json_line(const RunReport& r) {
  const ScenarioConfig& c = r.config;
  const RunCounters& t = r.totals;
  std::string s = "{\"config\":{";
  s += "\"host\":";
  proto::phoenix::append_json_string(s, c.host);
  s +=
      fmt(",\"port\":%u,\"format\":\"%s\",\"connections\":%u,\"rooms\":%u,\"publishers\":%u,"
          "\"rate_per_publisher\":%.6g,\"total_rate\":%.6g,\"msg_size\":%u,\"duration_s\":%.6g,"
          "\"warmup_s\":%.6g,\"ramp\":%.6g,\"procs\":%u,\"threads\":%u,\"source_addrs\":%u}",
          c.port, format_name(c.format), c.connections, c.rooms, c.publishers,
          c.per_publisher_rate(), c.per_publisher_rate() * c.publishers, c.msg_size, c.duration_s,
          c.warmup_s, c.ramp, c.procs, c.threads, c.source_addrs);
  s += ",\"counters\":{";
  for (size_t i = 0; i < kCounterCount; ++i) {
    if (i > 0) s += ',';
    s += fmt("\"%s\":%" PRIu64, std::string(kCounterNames[i]).c_str(), t.values[i]);
  }
  s += "}";
  s += fmt(",\"connections_established\":%" PRIu64 ",\"connections_failed\":%" PRIu64,
           t[Counter::ConnJoined], t.failed());
  s += fmt(",\"setup_s\":%.3f", r.setup_s);
  s += fmt(",\"published\":%" PRIu64 ",\"acked\":%" PRIu64, t[Counter::Published],
           t[Counter::Acked]);
  // Unknown (null) when the run was cut short: the workers' acks per room never arrived.
  if (r.is_complete) {
    s += fmt(",\"expected_deliveries\":%" PRIu64 ",\"lost\":%" PRId64, r.expected_deliveries,
             r.lost_deliveries());
  } else {
    s += ",\"expected_deliveries\":null,\"lost\":null";
  }
  s += fmt(",\"delivered\":%" PRIu64 ",\"order_violations\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"delivered_per_s\":%.1f",
           t[Counter::Received], t[Counter::OrderViolations], t[Counter::Duplicates],
           r.delivered_per_s());
  json_latency(s, "latency", r.e2e);
  json_latency(s, "ack_latency", r.ack);
  json_latency(s, "connect_latency", r.connect);
  json_latency(s, "join_latency", r.join);
  s += fmt(",\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"wall_s\":%.3f,\"pct_of_core\":%.1f}",
           r.cpu_user_s, r.cpu_sys_s, r.wall_s, r.cpu_pct());
  s += fmt(",\"server_rss_kib\":{\"before\":%" PRId64 ",\"joined\":%" PRId64 ",\"end\":%" PRId64
           ",\"max\":%" PRId64 ",\"bytes_per_connection\":%.0f}",
           r.rss_before_kib, r.rss_joined_kib, r.rss_end_kib, r.rss_max_kib,
           r.server_bytes_per_connection());
  s += fmt(",\"setup_cpu\":{\"generator_s\":%.3f,\"server_s\":%.3f}", r.setup_generator_cpu_s,
           r.setup_server_cpu_s);
  s += fmt(",\"server_cpu\":{\"cpu_s\":%.3f,\"wall_s\":%.3f,\"pct_of_core\":%.1f}", r.server_cpu_s,
           r.server_cpu_wall_s,
           r.server_cpu_wall_s > 0 && r.server_cpu_s >= 0
               ? 100.0 * r.server_cpu_s / r.server_cpu_wall_s
               : -1.0);
  s += ",\"first_error\":";
  proto::phoenix::append_json_string(s, r.first_error);
  s += ",\"ok\":";
  s += r.fatal.empty() ? "true" : "false";
  s += ",\"fatal\":";
  proto::phoenix::append_json_string(s, r.fatal);
  s += "}";
  return s;
}

bool write_csv(const RunReport& r, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  std::fprintf(f, "# %s\n", format_config(r.config).c_str());
  std::fprintf(f,
               "t_s,attempted,open,out_per_s,in_per_s,p50_ms,p99_ms,max_ms,errors,cpu_pct,"
               "server_rss_kib,server_cpu_pct\n");
  for (const SecondRow& row : r.series) {
    std::fprintf(f,
                 "%.1f,%" PRIu64 ",%" PRIu64 ",%.0f,%.0f,%.3f,%.3f,%.3f,%" PRIu64 ",%.1f,%" PRId64
                 ",%.1f\n",
                 row.t_s, row.attempted, row.open, row.out_per_s, row.in_per_s, ms(row.p50_ns),
                 ms(row.p99_ns), ms(row.max_ns), row.errors, row.cpu_pct, row.server_rss_kib,
                 row.server_cpu_pct);
  }
  return std::fclose(f) == 0;
}

}  // namespace rtchat::loadtest
