// rtchat-loadtest: an io_uring load generator for the chat server. See loadtest/README.md.
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "loadtest/load_coordinator.h"
#include "loadtest/run_report.h"
#include "loadtest/scenario_config.h"
#include "loadtest/self_check.h"

namespace lt = rtchat::loadtest;

namespace {

constexpr uint32_t kEphemeralPortsPerSource = 28000;  // 32768..60999 minus a margin
constexpr uint64_t kFastPortsPerSource = 5000;        // --source-addrs 0: connects stay quick

// Empty when the configuration is usable; otherwise what is wrong, in one sentence.
std::string validate(lt::ScenarioConfig& c) {
  std::string host = c.host == "localhost" ? "127.0.0.1" : c.host;
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
    return "--host must be an IPv4 literal in 127.0.0.0/8 (or localhost), got '" + c.host + "'";
  }
  if ((ntohl(addr.s_addr) >> 24) != 127) {
    return "refusing to target " + c.host + ": only 127.0.0.0/8 is allowed";
  }
  c.host = host;
  c.target_addr = addr.s_addr;
  if (c.port == 0) return "--port must be 1..65535";
  if (c.connections == 0) return "--connections must be at least 1";
  if (c.rooms == 0) return "--rooms must be at least 1";
  if (c.rate < 0 || c.total_rate < 0) return "--rate and --total-rate cannot be negative";
  if (c.publishers > 0 && c.per_publisher_rate() <= 0) return "publishers need a --rate > 0";
  // The schedule advances by 1e9 / rate ns per message: beyond this it would not advance at all,
  // and far beyond what a chat server accepts from one connection anyway.
  if (c.per_publisher_rate() > 100000) return "at most 100000 msgs/s per publisher: add publishers";
  if (c.ramp < 0) return "--ramp cannot be negative";
  if (c.publishers > c.connections) return "--publishers cannot exceed --connections";
  if (c.procs == 0 || c.threads == 0) return "--procs and --threads must be at least 1";
  if (c.source_addrs > 254) return "--source-addrs must be 0 (auto) or 1..254";
  if (c.source_addrs == 0) {
    // The kernel picks a connect's source port by probing the range for a free 4-tuple: past a
    // few thousand sockets per source address that search dominated the generator (64 % of its
    // CPU in __inet_hash_connect at 19,500 per address: the 39,000-socket storm took 11-14 s
    // with 2 addresses, 3 s with 8).
    c.source_addrs = static_cast<uint32_t>(std::clamp<uint64_t>(
        (c.connections + kFastPortsPerSource - 1) / kFastPortsPerSource, 1, 254));
  }
  if (c.jwt_secret.empty()) return "--jwt-secret (or RTCHAT_JWT_SECRET) is required to mint tokens";
  if (c.duration_s <= 0 || c.warmup_s < 0) return "--duration must be > 0 and --warmup >= 0";
  if (c.msg_size < 32 || c.msg_size > 4000) return "--msg-size must be 32..4000 (the body limit)";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  const uint64_t per_proc = (c.connections + c.procs - 1) / c.procs;
  if (per_proc + 64 > lim.rlim_cur) {
    const uint64_t need = (c.connections + (lim.rlim_cur - 64) - 1) / (lim.rlim_cur - 64);
    return std::to_string(per_proc) + " sockets per process exceed the open-file limit " +
           std::to_string(lim.rlim_cur) + ": use --procs " + std::to_string(need) + " or more";
  }
  if (c.connections / c.source_addrs > kEphemeralPortsPerSource) {
    return "more than " + std::to_string(kEphemeralPortsPerSource) +
           " connections per source address: use --source-addrs " +
           std::to_string(c.connections / kEphemeralPortsPerSource + 1) + " or more";
  }
  if (c.room_prefix.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "lt%x-",
                  static_cast<unsigned>(getpid() ^ std::time(nullptr)) & 0xFFFFFu);
    c.room_prefix = buf;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  lt::ScenarioConfig c;
  if (const char* s = std::getenv("RTCHAT_JWT_SECRET")) c.jwt_secret = s;
  std::string format = "json";
  bool self_check = false;

  CLI::App app{"rtchat-loadtest: io_uring load generator for the rtchat server (127.0.0.0/8 only)"};
  // Scenario scripts pass their defaults first and the user's flags after: the last one wins.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--host", c.host, "server address (127.0.0.0/8 only)")->capture_default_str();
  app.add_option("--port", c.port, "server port")->capture_default_str();
  app.add_option("--connections", c.connections, "WebSocket connections (users)")
      ->capture_default_str();
  app.add_option("--rooms", c.rooms, "rooms; connection i joins room i % rooms")
      ->capture_default_str();
  app.add_option("--publishers", c.publishers, "connections that publish (the first N)")
      ->capture_default_str();
  auto* rate = app.add_option("--rate", c.rate, "messages/s per publisher")->capture_default_str();
  app.add_option("--total-rate", c.total_rate, "open-loop messages/s over all publishers")
      ->excludes(rate);
  app.add_option("--msg-size", c.msg_size, "message body bytes (stamp + padding)")
      ->capture_default_str();
  app.add_option("--duration", c.duration_s, "measured seconds")->capture_default_str();
  app.add_option("--warmup", c.warmup_s, "seconds of publishing before measuring")
      ->capture_default_str();
  app.add_option("--ramp", c.ramp, "connects per second (0 = as fast as --max-pending allows)")
      ->capture_default_str();
  app.add_option("--format", format, "wire format")
      ->check(CLI::IsMember({"json", "binary"}))
      ->capture_default_str();
  app.add_option("--jwt-secret", c.jwt_secret,
                 "HS256 secret to mint one token per user (env RTCHAT_JWT_SECRET)");
  app.add_option("--room-prefix", c.room_prefix, "room id prefix (default: unique per run)");
  app.add_option("--procs", c.procs, "worker processes (each has its own 20000 open-file limit)")
      ->capture_default_str();
  app.add_option("--threads", c.threads, "worker threads (one io_uring each) per process")
      ->capture_default_str();
  app.add_option("--source-addrs", c.source_addrs,
                 "bind sockets to 127.0.0.1..K (~28k ports each; 0 = one per 5000 connections)")
      ->capture_default_str();
  app.add_option("--max-pending", c.max_pending, "per worker: connections being set up at once")
      ->capture_default_str();
  app.add_option("--connect-timeout", c.connect_timeout_s, "seconds for connect + upgrade + join")
      ->capture_default_str();
  app.add_option("--drain-timeout", c.drain_timeout_s,
                 "seconds to wait for acks and deliveries after publishing")
      ->capture_default_str();
  app.add_option("--heartbeat", c.heartbeat_s, "Phoenix heartbeat period in seconds")
      ->capture_default_str();
  app.add_flag("--mark-read", c.mark_read, "answer every delivered new_msg with mark_read {id}");
  app.add_flag("--heartbeat-per-delivery", c.heartbeat_per_delivery,
               "answer every delivered new_msg with a heartbeat (the control for --mark-read)");
  app.add_option("--server-pid", c.server_pid, "sample this process's RSS (idle, soak)");
  app.add_option("--csv", c.csv_path, "write the per-second time series here");
  app.add_flag("--json", c.json, "print one JSON result line (last line of stdout)");
  app.add_flag("--quiet", c.quiet, "no per-second progress lines");
  app.add_flag("--strict", c.strict,
               "exit 3 on any failed connection, lost, reordered or duplicated delivery");
  app.add_flag("--self-check", self_check, "run the built-in unit checks and exit");
  CLI11_PARSE(app, argc, argv);

  if (self_check) return lt::run_self_checks();
  c.format = format == "binary" ? rtchat::client::Format::Binary : rtchat::client::Format::Json;
  if (std::string err = validate(c); !err.empty()) {
    std::fprintf(stderr, "rtchat-loadtest: %s\n", err.c_str());
    return 2;
  }
  if (!c.quiet) std::fprintf(stderr, "rtchat-loadtest: %s\n", lt::format_config(c).c_str());

  const lt::RunReport report = lt::run_scenario(c);
  lt::print_table(report, stdout);
  if (!c.csv_path.empty() && !lt::write_csv(report, c.csv_path)) {
    std::fprintf(stderr, "rtchat-loadtest: cannot write %s\n", c.csv_path.c_str());
  }
  if (c.json) std::printf("%s\n", lt::json_line(report).c_str());
  std::fflush(stdout);
  if (!report.fatal.empty()) {
    std::fprintf(stderr, "rtchat-loadtest: FAILED: %s%s%s\n", report.fatal.c_str(),
                 report.first_error.empty() ? "" : ": ", report.first_error.c_str());
    return 1;
  }
  const auto& t = report.totals;
  if (c.strict && (!report.is_complete || report.lost_deliveries() != 0 || t.failed() != 0 ||
                   t[lt::Counter::OrderViolations] != 0 || t[lt::Counter::Duplicates] != 0 ||
                   t[lt::Counter::ConnLost] != 0)) {
    std::fprintf(stderr,
                 "rtchat-loadtest: --strict: deliveries or connections did not all check out\n");
    return 3;
  }
  return 0;
}
