#include "server/shard/http_routes.h"

#include <charconv>

#include "core/clock.h"
#include "proto/display_text.h"
#include "proto/phoenix_codec.h"
#include "server/auth/api_key.h"
#include "server/auth/dev_tokens.h"
#include "server/log.h"
#include "server/metrics_text.h"
#include "server/net/handshake.h"
#include "server/net/host_policy.h"
#include "server/net/http_response.h"
#include "server/shard/room_ids.h"
#include "server/storage/store.h"

namespace rtchat::server {
namespace {

constexpr std::string_view kSocketPath = "/socket/websocket";
constexpr std::string_view kRoomsApiPrefix = "/api/rooms/";
constexpr int64_t kHistoryApiDeadlineMs = 30000;  // the page from storage, then the answer

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string json_response(int status, std::string_view reason, std::string_view extra = {}) {
  return http_response(status, "application/json", json_error(reason), extra);
}

// Same origin = the Origin's host[:port] equals the Host header the browser sent.
bool origin_allowed(const HttpRequest& req, const std::vector<std::string>& allowed) {
  std::string_view origin = req.header("origin");
  if (origin.empty()) return true;  // native apps and tools send no Origin
  for (const auto& a : allowed) {
    if (a == "*" || a == origin) return true;
  }
  std::string_view host = req.header("host");
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.size() == scheme.size() + host.size() && origin.starts_with(scheme) &&
        origin.substr(scheme.size()) == host) {
      return true;
    }
  }
  return false;
}

// Upgrade names the "websocket" token (case-insensitive, RFC 6455 4.2.1). Other upgrades (h2c)
// may be ignored and the request served as plain HTTP (RFC 7230 6.7).
bool is_websocket_upgrade(const HttpRequest& req) {
  std::string_view upgrade = req.header("upgrade");
  constexpr std::string_view kToken = "websocket";
  for (size_t i = 0; i + kToken.size() <= upgrade.size(); ++i) {
    bool same = true;
    for (size_t j = 0; j < kToken.size() && same; ++j) {
      char c = upgrade[i + j];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == kToken[j];
    }
    if (same) return true;
  }
  return false;
}

std::string method_not_allowed(std::string_view allow) {
  return http_response(405, "text/plain", "method not allowed\n",
                       "Allow: " + std::string(allow) + "\r\n");
}

}  // namespace

HttpRoutes::HttpRoutes(unsigned index, SharedState& shared, ConnectionTable& table,
                       SocketPort& socket, OutboundPort& out, ShardMetrics& metrics,
                       UpgradedFn on_upgraded)
    : index_(index),
      shared_(shared),
      config_(*shared.config),
      table_(table),
      socket_(socket),
      out_(out),
      metrics_(metrics),
      on_upgraded_(std::move(on_upgraded)),
      api_(index, shared, table, out, metrics,
           [this](Connection& c, std::string response) { respond(c, std::move(response)); }) {}

void HttpRoutes::on_accepted(Connection& c) {
  if (config_.max_pending_handshakes &&
      table_.http_connections() > config_.max_pending_handshakes) {
    // A reconnect storm: answer at once instead of letting handshakes time out in a queue. The
    // phoenix client retries with its backoff (the UI adds jitter).
    metrics_.upgrades_rejected.add();
    respond(c, http_response(503, "text/plain", "server busy, retry\n", "Retry-After: 1\r\n"));
  }
}

void HttpRoutes::on_bytes(Connection& c, std::string_view bytes) {
  size_t consumed = 0;
  HttpParseStatus st = c.http.parser(config_.max_header_bytes).feed(bytes, consumed);
  switch (st) {
    case HttpParseStatus::NeedMore:
      return;
    case HttpParseStatus::Complete: {
      metrics_.http_requests.add();
      // The request's views live in the parser: it goes back to the spares after the route.
      HttpParserPtr parser = c.http.finish();
      HttpRequest& req = parser->request();
      c.is_head_request = req.method == "HEAD";
      return route(c, req, bytes.substr(consumed));
    }
    case HttpParseStatus::HeadersTooLarge:
      return respond(c, http_response(431, "text/plain", "request header fields too large\n"));
    case HttpParseStatus::BodyTooLarge:
      return respond(c, http_response(413, "text/plain", "payload too large\n"));
    case HttpParseStatus::Malformed:
      return respond(c, http_response(400, "text/plain", "malformed request\n"));
    case HttpParseStatus::VersionNotSupported:
      return respond(c, http_response(505, "text/plain", "only HTTP/1.x is spoken here\n"));
  }
}

void HttpRoutes::respond(Connection& c, std::string response) {
  c.http.mark_answered();
  if (c.is_head_request) {
    // Every route answers HEAD through here, the asynchronous history page included: the same
    // status and headers (Content-Length of the body a GET gets), never the body (RFC 9110 9.3.2).
    size_t end = response.find("\r\n\r\n");
    if (end != std::string::npos) response.resize(end + 4);
  }
  table_.queue_frame(c, core::SharedFrame::copy_of(response));
  socket_.close_after_flush(c);
}

void HttpRoutes::route(Connection& c, HttpRequest& req, std::string_view leftover) {
  if (!host_allowed(req.header("host"), !config_.production, config_.allowed_hosts)) {
    return refuse_host(c, req);
  }
  const std::string_view path = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (path == kSocketPath) return upgrade(c, req, leftover);
  // Anything else under /socket, or a WebSocket upgrade anywhere else, is an endpoint that does
  // not exist: a 404, never the UI shell a browser route would get.
  if (path == "/socket" || path.starts_with("/socket/") || is_websocket_upgrade(req)) {
    metrics_.upgrades_rejected.add();
    return respond(c, http_response(404, "text/plain", "no such endpoint\n"));
  }
  if (route_ops(c, req)) return;
  if (path == "/api/dev/token") {
    if (!config_.dev_minting()) return respond(c, http_response(404, "text/plain", "not found\n"));
    if (req.method != "POST") return respond(c, method_not_allowed("POST"));
    return dev_token(c, req);
  }
  if (path.starts_with("/api/") && api_.route(c, req)) return;  // server_api.cpp
  if (path.starts_with(kRoomsApiPrefix)) {
    std::string_view rest = std::string_view(path).substr(kRoomsApiPrefix.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && rest.substr(slash) == "/messages") {
      if (!get) return respond(c, method_not_allowed("GET, HEAD"));
      return history_api(c, req, rest.substr(0, slash));
    }
    return respond(c, json_response(404, "not found"));
  }
  if (path.starts_with("/api/")) return respond(c, json_response(404, "not found"));
  if (const StaticFile* f = shared_.static_files->find(path)) {
    // The UI is read-only: other methods on its paths are refused as such, not as missing.
    if (!get) return respond(c, method_not_allowed("GET, HEAD"));
    return respond(c, static_file_response(*f, req.header("if-none-match"), c.is_head_request));
  }
  respond(c, http_response(404, "text/plain", "not found\n"));
}

bool HttpRoutes::route_ops(Connection& c, const HttpRequest& req) {
  const std::string_view path = req.path;
  if (path != "/healthz" && path != "/readyz" && path != "/metrics") return false;
  const bool head = c.is_head_request;
  if (req.method != "GET" && !head) {
    respond(c, method_not_allowed("GET, HEAD"));
  } else if (path == "/healthz") {
    // Alive even when the cluster link is down (local clients are still served), but say so.
    const bool degraded = shared_.cluster_status->get() == ClusterHealth::Down;
    respond(c, http_response(200, "text/plain", degraded ? "degraded: cluster link down\n" : "ok\n",
                             {}, head));
  } else if (path == "/readyz") {
    // Storage is opened before the shards start (the process exits when it cannot be); the
    // cluster link, when configured, must be up for this node to take new traffic.
    const bool ready = shared_.cluster_status->get() != ClusterHealth::Down &&
                       !shared_.stopping.load(std::memory_order_relaxed);
    respond(c, http_response(ready ? 200 : 503, "text/plain", ready ? "ready\n" : "not ready\n", {},
                             head));
  } else {
    std::string text = render_prometheus(shared_.shard_metrics, shared_.storage_metrics);
    respond(c, http_response(200, "text/plain; version=0.0.4", text, {}, head));
  }
  return true;
}

void HttpRoutes::upgrade(Connection& c, HttpRequest& req, std::string_view leftover) {
  UpgradeDecision d = check_upgrade(req);
  if (!d.ok) {
    metrics_.upgrades_rejected.add();
    return respond(c, build_upgrade_refusal(d));
  }
  if (!origin_allowed(req, config_.allowed_origins)) {
    metrics_.upgrades_rejected.add();
    LOG_INFO("upgrade_rejected", "shard=%u reason=\"origin not allowed\"", index_);
    return respond(c, http_response(403, "text/plain", "origin not allowed\n"));
  }
  proto::JwtClaims claims;
  if (!verify_upgrade_token(c, d.token, claims)) return;
  if (!shared_.sockets_per_user.try_acquire(claims.sub, config_.max_conns_per_user)) {
    metrics_.upgrades_rejected.add();
    LOG_INFO("upgrade_rejected", "shard=%u reason=\"too many connections for this user\"", index_);
    return respond(c, http_response(429, "text/plain", "too many connections for this user\n",
                                    "Retry-After: 5\r\n"));
  }
  c.counts_as_user_socket = true;
  c.claims = SocketIdentity::from(std::move(claims));
  c.format = d.format == UpgradeDecision::Format::Binary ? WireFormat::Binary : WireFormat::Json;
  table_.queue_frame(c, core::SharedFrame::copy_of(build_upgrade_response(d)));
  on_upgraded_(c, leftover);
}

bool HttpRoutes::verify_upgrade_token(Connection& c, std::string_view token,
                                      proto::JwtClaims& claims) {
  proto::JwtError err =
      token.empty() ? proto::JwtError::Malformed
                    : proto::verify_jwt(token, config_.jwt_secret, core::unix_millis() / 1000,
                                        config_.jwt_leeway_s, claims);
  if (err == proto::JwtError::None) return true;
  metrics_.upgrades_rejected.add();
  std::string_view reason = token.empty() ? "missing token" : proto::jwt_error_reason(err);
  // Logged without the token (it is a credential).
  LOG_INFO("upgrade_rejected", "shard=%u reason=\"%.*s\"", index_, static_cast<int>(reason.size()),
           reason.data());
  respond(c, http_response(403, "text/plain", std::string(reason) + "\n"));
  return false;
}

void HttpRoutes::refuse_host(Connection& c, const HttpRequest& req) {
  if (req.path.starts_with(kSocketPath)) metrics_.upgrades_rejected.add();
  // The Host value is the attacker's choice: logged only as a length-capped, escaped string.
  std::string shown;
  proto::phoenix::append_json_string(shown, proto::utf8_prefix(req.header("host"), 64));
  LOG_INFO("host_rejected", "shard=%u host=%s", index_, shown.c_str());
  // 421 Misdirected Request: this server is not the one that name should reach.
  respond(c, http_response(421, "text/plain",
                           config_.production ? "host not allowed (see --allowed-hosts)\n"
                                              : "host not allowed: dev mode answers localhost "
                                                "names only (see --allowed-hosts)\n"));
}

void HttpRoutes::dev_token(Connection& c, HttpRequest& req) {
  // A page on another origin may POST here (a "simple" request needs no preflight); it could not
  // read the answer, but refuse it outright rather than mint for it.
  if (!origin_allowed(req, config_.allowed_origins)) {
    return respond(c, json_response(403, "origin not allowed"));
  }
  auto request = parse_dev_token_request(req.body);
  if (!request || request->user.empty() || request->user.size() > proto::kMaxJwtSubBytes) {
    return respond(c, json_response(400, "expected {\"user\": \"name\", \"ttl\": seconds}"));
  }
  auto exp = expiry_after(core::unix_millis() / 1000, request->ttl_s, kMaxDevEndpointTtlS);
  if (!exp) {
    return respond(c, json_response(400, "ttl must be 1.." + std::to_string(kMaxDevEndpointTtlS) +
                                             " seconds"));
  }
  proto::JwtClaims claims;
  claims.sub = std::move(request->user);
  claims.name = std::string(proto::utf8_prefix(claims.sub, proto::kMaxJwtNameBytes));
  claims.exp = *exp;
  std::string token = proto::mint_jwt(config_.jwt_secret, claims);
  std::string body = "{\"token\":";
  proto::phoenix::append_json_string(body, token);
  body += ",\"user_id\":";
  proto::phoenix::append_json_string(body, claims.sub);
  body += ",\"exp\":" + std::to_string(claims.exp) + "}";
  respond(c, http_response(200, "application/json", body));
}

void HttpRoutes::history_api(Connection& c, HttpRequest& req, std::string_view room_id) {
  // The same Bearer parsing as the server API (case-insensitive scheme, trimmed).
  std::string token(bearer_token(req.header("authorization")));
  if (token.empty()) {
    if (auto q = req.query_param("token")) token = *q;
  }
  if (token.empty()) {
    return respond(c, json_response(401, "missing token", "WWW-Authenticate: Bearer\r\n"));
  }
  proto::JwtClaims claims;
  proto::JwtError err = proto::verify_jwt(token, config_.jwt_secret, core::unix_millis() / 1000,
                                          config_.jwt_leeway_s, claims);
  if (err != proto::JwtError::None)
    return respond(c, json_response(403, proto::jwt_error_reason(err)));
  if (!is_valid_room_id(room_id)) return respond(c, json_response(400, "invalid room id"));
  if (!proto::room_allowed(claims, room_id)) return respond(c, json_response(403, "unauthorized"));
  StorePage page;
  page.room = std::string(room_id);
  page.conn = c.ref;
  page.http = true;
  if (!parse_page_params(c, req, page)) return;
  if (out_.storage_overloaded()) {
    return respond(c, json_response(503, "overloaded", "Retry-After: 1\r\n"));
  }
  // The answer comes back as StorePageDone; the connection waits in Http phase without a parser.
  c.deadline_ms = core::mono_millis() + kHistoryApiDeadlineMs;
  out_.send_to_storage(std::move(page));
}

bool HttpRoutes::parse_page_params(Connection& c, const HttpRequest& req, StorePage& page) {
  if (auto b = req.query_param("before"); b && !b->empty()) {
    auto v = parse_int(*b);
    if (!v || *v < 1) {
      respond(c, json_response(400, "invalid before"));
      return false;
    }
    page.before_id = *v;
  }
  if (auto l = req.query_param("limit"); l && !l->empty()) {
    auto v = parse_int(*l);
    if (!v || *v < 1 || *v > Store::kMaxPageLimit) {
      respond(
          c, json_response(400, "invalid limit (1.." + std::to_string(Store::kMaxPageLimit) + ")"));
      return false;
    }
    page.limit = static_cast<int>(*v);
  }
  return true;
}

void HttpRoutes::on_page_done(StorePageDone&& d) {
  Connection* c = table_.lookup(d.request.conn);
  if (!c || c->phase != Phase::Http) return;
  if (!d.ok) {
    respond(*c, json_response(503, "storage unavailable"));
  } else if (!d.room_exists) {
    respond(*c, json_response(404, "unknown room"));
  } else {
    std::string body;
    proto::phoenix::encode_history_json(d.messages, d.has_more, body);
    respond(*c, http_response(200, "application/json", body));
  }
}

}  // namespace rtchat::server
