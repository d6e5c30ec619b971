// Server configuration: every flag has a default with a reason, and an RTCHAT_* env variable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace rtchat::server {

struct ServerConfig {
  // Empty: 127.0.0.1 in dev mode (its secret is public, it mints tokens by name: not for the
  // network unless asked), 0.0.0.0 with --production. Resolved by parse_config.
  std::string host;
  uint16_t port = 4000;
  unsigned shards = 0;                   // 0 = one per CPU
  std::string data_dir = "./data";       // SQLite file lives here
  std::string storage = "sqlite";        // sqlite | memory (in-process, lost on exit: benchmarks)
  int fault_storage_delay_ms = 0;        // tests only: a slow disk (sleep before each commit)
  std::string web_root;                  // built UI; empty = <exe>/../../web/dist or ./web/dist
  std::string jwt_secret;                // HS256 secret; required with --production
  bool production = false;               // off: dev mode (token minting endpoint, dev secret)
  int64_t jwt_leeway_s = 30;             // clock skew tolerated on exp/nbf
  size_t max_message_bytes = 64 * 1024;  // chat JSON is small; more is abuse (close 1009)
  size_t max_body_chars = 4000;          // new_msg body limit (docs/protocol.md)
  size_t max_header_bytes = 8192;        // HTTP request head; larger -> 431
  int heartbeat_timeout_s = 60;          // Phoenix closes sockets silent for 60 s
  int handshake_timeout_s = 10;          // slowloris guard for the HTTP upgrade
  int drain_timeout_s = 10;              // SIGTERM: bound on flushing clients and storage
  int64_t recovery_limit = 1000;  // missed messages replayed on join before "recovered": false
  // Bytes queued for one connection, counted at enqueue, before close 4008. Above the largest
  // burst a healthy client gets in one turn: a 10k-member presence_state is ~1 MB, a history
  // page at most 256 KiB, a catch-up at most half of this.
  size_t outbound_cap_bytes = 4 << 20;
  // A room's presence_diffs go out at most every min(1.5 s, this x members) (presence_pacing.h):
  // 5 ms per member keeps a join storm's diff frames near two sends per join. 0 = every turn.
  int64_t presence_pace_us_per_member = 5000;
  // Joins a second on one shard past which every room's diffs wait the longest (1.5 s): a join
  // storm (presence_pacing.h). 0 = off.
  int64_t presence_storm_joins_per_s = 1000;
  unsigned max_rooms_per_conn = 100;  // Phoenix's channel limit per socket
  unsigned max_conns_per_user = 32;   // sockets per user id (tabs x devices); more: HTTP 429
  unsigned max_conns_per_ip = 0;      // TCP connections per source address (0 = off: NATs and LBs)
  unsigned max_pending_handshakes = 4096;  // per shard; more during a storm: HTTP 503 + Retry-After
  double rate_per_s = 20;                  // inbound pushes per connection (token bucket)
  double rate_burst = 50;
  unsigned flood_strikes = 20;               // rate-limited pushes in a row before close 1008
  int64_t retention_max_messages = 0;        // per room; 0 = keep all
  int64_t retention_max_age_s = 0;           // 0 = keep forever
  int64_t retention_sweep_ms = 60000;        // a sweep queries every room: once a minute is enough
  bool sync_full = false;                    // SQLite synchronous=FULL (survive power loss, slower)
  std::vector<std::string> allowed_origins;  // empty = same origin + no Origin header
  std::string log_level = "info";
  std::string
      cluster_url;  // redis:// or redis-cluster:// joins a cluster (docs/cluster.md); empty = alone
  std::string node_id;  // this node's name in the cluster; empty = random at start

  // POST /api/dev/token with a secret of one's own (dev mode only). Off by default: a real secret
  // signs real identities, so handing them out by name must be asked for.
  bool dev_tokens = false;
  // Host headers served (name, name:port or *.suffix). Empty = any in production; in dev mode
  // only localhost names are served, plus these (DNS rebinding: see host_policy.h).
  std::vector<std::string> allowed_hosts;
  // token_expiring is pushed this long before a socket's token expires: a minute leaves a client
  // time for a round trip to its token endpoint, with a retry or two, before the 4001 close.
  int64_t token_refresh_notice_s = 60;
  // Bearer keys of the server API for backends (docs/protocol.md "Server API"). Several so a key
  // can be rotated without downtime; empty = the API is off (its key-only routes answer 404).
  std::vector<std::string> api_keys;

  [[nodiscard]] unsigned effective_shards() const;
  // Whether POST /api/dev/token mints: never in production; in dev mode with the built-in secret
  // (its tokens are worthless anywhere else) or with --dev-tokens. Valid once run_server has
  // filled in the secret.
  [[nodiscard]] bool dev_minting() const;
};

// Parses argv (and RTCHAT_* env). Returns false when the process should exit with exit_code
// (--help, bad flags). The "token" subcommand is handled in main.
bool parse_config(int argc, char** argv, ServerConfig& out, int& exit_code);

// The RTCHAT_* variable of every setting (hidden test switches excluded), in --help order.
std::vector<std::string> config_env_names();

// The configuration as RTCHAT_NAME=value lines (an env file), secrets masked: what
// `rtchat-server config` prints.
std::string format_config(const ServerConfig& config);

// The development secret used when none is given outside production; logged as a warning.
inline constexpr const char* kDevJwtSecret = "rtchat-dev-secret-do-not-use-in-production";

}  // namespace rtchat::server
