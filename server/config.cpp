#include "server/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "core/affinity.h"

namespace rtchat::server {

unsigned ServerConfig::effective_shards() const {
  return shards == 0 ? core::hardware_cpus() : shards;
}

bool ServerConfig::dev_minting() const {
  return !production && (jwt_secret == kDevJwtSecret || dev_tokens);
}

namespace {

// A flag's value as its default string: CLI11 captures defaults of options but not of flags, and
// format_config prints every setting from the default strings of an app bound to a copy.
CLI::Option* add_bool_flag(CLI::App& app, const std::string& name, bool& value,
                           const std::string& description) {
  return app.add_flag(name, value, description)->default_str(value ? "true" : "false");
}

// Where it listens and stores, and who may sign in.
void add_process_options(CLI::App& app, ServerConfig& c) {
  app.add_option("--host", c.host, "Listen address (default: 127.0.0.1, 0.0.0.0 with --production)")
      ->envname("RTCHAT_HOST");
  app.add_option("--port", c.port, "Listen port (0 = ephemeral)")->envname("RTCHAT_PORT");
  app.add_option("--shards", c.shards, "Reactor shards (0 = one per CPU)")
      ->envname("RTCHAT_SHARDS");
  app.add_option("--data-dir", c.data_dir, "Directory of the SQLite history")
      ->envname("RTCHAT_DATA_DIR");
  app.add_option("--storage", c.storage, "History store: sqlite, or memory (lost on exit)")
      ->check(CLI::IsMember({"sqlite", "memory"}))
      ->envname("RTCHAT_STORAGE");
  app.add_option("--fault-storage-delay-ms", c.fault_storage_delay_ms,
                 "Fault injection for tests: the storage thread waits this long before each "
                 "commit (a slow disk)")
      ->group("")  // hidden from --help: not for production
      ->envname("RTCHAT_FAULT_STORAGE_DELAY_MS");
  app.add_option("--web-root", c.web_root, "Built web UI to serve at /")
      ->envname("RTCHAT_WEB_ROOT");
  app.add_option("--jwt-secret", c.jwt_secret, "HS256 secret for socket tokens")
      ->envname("RTCHAT_JWT_SECRET");
  add_bool_flag(app, "--production", c.production,
                "Production mode: no dev tokens, secret required")
      ->envname("RTCHAT_PRODUCTION");
  add_bool_flag(app, "--dev-tokens", c.dev_tokens,
                "Dev mode with your own --jwt-secret: keep POST /api/dev/token (signs any name)")
      ->envname("RTCHAT_DEV_TOKENS");
  app.add_option("--jwt-leeway", c.jwt_leeway_s, "Seconds of clock skew on exp/nbf")
      ->envname("RTCHAT_JWT_LEEWAY");
  app.add_option("--token-refresh-notice-secs", c.token_refresh_notice_s,
                 "Push token_expiring this long before a socket's token expires (s)")
      ->check(CLI::NonNegativeNumber)
      ->envname("RTCHAT_TOKEN_REFRESH_NOTICE_SECS");
}

// What one client may do: sizes, timeouts, connection and rate limits.
void add_limit_options(CLI::App& app, ServerConfig& c) {
  app.add_option("--max-message-bytes", c.max_message_bytes, "Max WebSocket message (close 1009)")
      ->envname("RTCHAT_MAX_MESSAGE_BYTES");
  app.add_option("--max-body-chars", c.max_body_chars, "Max new_msg body characters")
      ->envname("RTCHAT_MAX_BODY_CHARS");
  app.add_option("--max-header-bytes", c.max_header_bytes, "Max HTTP request head bytes")
      ->envname("RTCHAT_MAX_HEADER_BYTES");
  app.add_option("--heartbeat-timeout", c.heartbeat_timeout_s, "Close sockets silent this long (s)")
      ->envname("RTCHAT_HEARTBEAT_TIMEOUT");
  app.add_option("--handshake-timeout", c.handshake_timeout_s, "HTTP upgrade deadline (s)")
      ->envname("RTCHAT_HANDSHAKE_TIMEOUT");
  app.add_option("--drain-timeout", c.drain_timeout_s, "SIGTERM drain bound (s)")
      ->envname("RTCHAT_DRAIN_TIMEOUT");
  app.add_option("--recovery-limit", c.recovery_limit, "Max messages replayed on a recovering join")
      ->envname("RTCHAT_RECOVERY_LIMIT");
  app.add_option("--outbound-cap-bytes", c.outbound_cap_bytes,
                 "Queued bytes per connection before close 4008")
      ->envname("RTCHAT_OUTBOUND_CAP_BYTES")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));  // per-connection counts are 32-bit
  app.add_option("--presence-pace-us-per-member", c.presence_pace_us_per_member,
                 "Presence diffs of a room at most every min(1.5 s, this x members) (0 = every "
                 "loop turn)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}))
      ->envname("RTCHAT_PRESENCE_PACE_US_PER_MEMBER");
  app.add_option("--presence-storm-joins-per-s", c.presence_storm_joins_per_s,
                 "Joins a second on a shard past which every room's presence diffs wait 1.5 s "
                 "(a join storm; 0 = off)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}))
      ->envname("RTCHAT_PRESENCE_STORM_JOINS_PER_S");
  app.add_option("--max-conns-per-user", c.max_conns_per_user,
                 "Sockets one user id may hold (0 = unlimited); more get HTTP 429")
      ->envname("RTCHAT_MAX_CONNS_PER_USER");
  app.add_option("--max-conns-per-ip", c.max_conns_per_ip,
                 "Connections per source address (0 = unlimited); more get HTTP 429")
      ->envname("RTCHAT_MAX_CONNS_PER_IP");
  app.add_option("--max-pending-handshakes", c.max_pending_handshakes,
                 "Connections per shard still in HTTP; more get 503 (reconnect storms)")
      ->envname("RTCHAT_MAX_PENDING_HANDSHAKES");
  app.add_option("--max-rooms-per-conn", c.max_rooms_per_conn, "Rooms one socket may join")
      ->envname("RTCHAT_MAX_ROOMS_PER_CONN");
  app.add_option("--rate", c.rate_per_s, "Inbound pushes per second per connection")
      ->envname("RTCHAT_RATE");
  app.add_option("--rate-burst", c.rate_burst, "Token bucket burst")->envname("RTCHAT_RATE_BURST");
  app.add_option("--flood-strikes", c.flood_strikes, "Rate-limited pushes in a row before 1008")
      ->envname("RTCHAT_FLOOD_STRIKES");
}

// History retention, the origins and hosts served, logging, cluster mode.
void add_history_and_access_options(CLI::App& app, ServerConfig& c) {
  app.add_option("--retention-max-messages", c.retention_max_messages, "Per room, 0 = all")
      ->envname("RTCHAT_RETENTION_MAX_MESSAGES");
  app.add_option("--retention-max-age", c.retention_max_age_s, "Seconds, 0 = forever")
      ->envname("RTCHAT_RETENTION_MAX_AGE");
  app.add_option("--retention-sweep-ms", c.retention_sweep_ms,
                 "How often retention is applied (ms)")
      ->check(CLI::Range(int64_t{100}, int64_t{86400000}))
      ->envname("RTCHAT_RETENTION_SWEEP_MS");
  add_bool_flag(app, "--sync-full", c.sync_full, "SQLite synchronous=FULL")
      ->envname("RTCHAT_SYNC_FULL");
  app.add_option("--allowed-origins", c.allowed_origins,
                 "Browser origins allowed to open sockets (default: same origin)")
      ->delimiter(',')
      ->envname("RTCHAT_ALLOWED_ORIGINS");
  app.add_option("--allowed-hosts", c.allowed_hosts,
                 "Host headers served: name, name:port, *.suffix (default: any in production, "
                 "localhost names in dev mode)")
      ->delimiter(',')
      ->envname("RTCHAT_ALLOWED_HOSTS");
  app.add_option("--api-key", c.api_keys,
                 "Server API key (repeatable; env: comma-separated); none = the API is off")
      ->delimiter(',')
      ->envname("RTCHAT_API_KEY");
  app.add_option("--log-level", c.log_level, "error|warn|info|debug")->envname("RTCHAT_LOG_LEVEL");
  app.add_option("--cluster", c.cluster_url,
                 "Join a cluster through Redis: redis://HOST:PORT, or a Redis Cluster: "
                 "redis-cluster://HOST:PORT[,HOST:PORT...]")
      ->envname("RTCHAT_CLUSTER");
  app.add_option("--node-id", c.node_id, "This node's id in the cluster (default: random)")
      ->envname("RTCHAT_NODE_ID");
}

// Every flag, bound to c; one list for parsing, printing (rtchat-server config) and the env names,
// in this order.
void add_options(CLI::App& app, ServerConfig& c) {
  app.option_defaults()->always_capture_default();
  add_process_options(app, c);
  add_limit_options(app, c);
  add_history_and_access_options(app, c);
}

constexpr const char* kAppDescription =
    "rtchat-server: realtime chat over WebSockets (Phoenix v2 JSON and rtchat.v1 binary)";

// Secrets never reach a terminal or a log: the JWT secret by length only, a cluster URL's
// user:password part replaced.
std::string masked(const std::string& env, const std::string& value) {
  if (env == "RTCHAT_JWT_SECRET") {
    if (value.empty()) return "";
    if (value == kDevJwtSecret) return "<built-in development secret>";
    return "<hidden, " + std::to_string(value.size()) + " characters>";
  }
  if (env == "RTCHAT_API_KEY") {
    if (value.empty()) return "";
    size_t keys = 1 + static_cast<size_t>(std::count(value.begin(), value.end(), ','));
    return "<hidden, " + std::to_string(keys) + (keys == 1 ? " key>" : " keys>");
  }
  if (env == "RTCHAT_CLUSTER") {
    auto scheme = value.find("://");
    auto at = value.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      return value.substr(0, scheme + 3) + "<hidden>" + value.substr(at);
    }
  }
  return value;
}

}  // namespace

std::vector<std::string> config_env_names() {
  ServerConfig scratch;
  CLI::App app{kAppDescription};
  add_options(app, scratch);
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_envname().empty() && !opt->get_group().empty()) {
      names.push_back(opt->get_envname());
    }
  }
  return names;
}

std::string format_config(const ServerConfig& config) {
  ServerConfig copy = config;
  // What run_server will use: outside production an empty secret means the built-in one.
  if (copy.jwt_secret.empty() && !copy.production) copy.jwt_secret = kDevJwtSecret;
  CLI::App app{kAppDescription};
  add_options(app, copy);  // captures copy's values as each option's default string
  std::string out;
  for (const CLI::Option* opt : app.get_options()) {
    // Hidden options (group "") are test switches, not settings.
    if (opt->get_envname().empty() || opt->get_group().empty()) continue;
    std::string value = opt->get_default_str();
    // Lists print as [a,b]; the env form (and the flag's delimiter) is a,b.
    if (value.size() >= 2 && value.front() == '[' && value.back() == ']') {
      value = value.substr(1, value.size() - 2);
    }
    out += opt->get_envname() + "=" + masked(opt->get_envname(), value) + "\n";
  }
  return out;
}

bool parse_config(int argc, char** argv, ServerConfig& c, int& exit_code) {
  CLI::App app{kAppDescription};
  add_options(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return false;
  }
  if (c.production && c.dev_tokens) {
    std::cerr << "--dev-tokens is a development switch; it cannot be used with --production\n";
    exit_code = 2;
    return false;
  }
  if (c.host.empty()) c.host = c.production ? "0.0.0.0" : "127.0.0.1";
  return true;
}

}  // namespace rtchat::server
