// The HTTP side of a connection before (or instead of) the WebSocket: one request per
// connection (Connection: close), routed to the UI's static files, /healthz, /readyz, /metrics,
// the history API (answered when storage's StorePageDone comes back), the dev token endpoint, or
// the WebSocket upgrade, which hands the connection to the session.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "proto/jwt.h"
#include "server/net/http_request.h"
#include "server/shard/connection_table.h"
#include "server/shard/ports.h"
#include "server/shard/server_api.h"
#include "server/shard/shared_state.h"

namespace rtchat::server {

class HttpRoutes {
 public:
  // The upgrade response is queued: the session takes the connection (and the leftover bytes).
  using UpgradedFn = std::function<void(Connection& c, std::string_view leftover)>;

  HttpRoutes(unsigned index, SharedState& shared, ConnectionTable& table, SocketPort& socket,
             OutboundPort& out, ShardMetrics& metrics, UpgradedFn on_upgraded);

  // A new connection: refused at once (503) in a reconnect storm (--max-pending-handshakes).
  void on_accepted(Connection& c);
  void on_bytes(Connection& c, std::string_view bytes);
  // The history API's page (StorePage with http set).
  void on_page_done(StorePageDone&& d);
  // The server API for backends (its answers come back through it).
  ServerApi& api() { return api_; }

 private:
  void route(Connection& c, HttpRequest& req, std::string_view leftover);
  // /healthz, /readyz, /metrics: true when path was one of them (and answered).
  bool route_ops(Connection& c, const HttpRequest& req);
  void upgrade(Connection& c, HttpRequest& req, std::string_view leftover);
  bool verify_upgrade_token(Connection& c, std::string_view token, proto::JwtClaims& claims);
  void history_api(Connection& c, HttpRequest& req, std::string_view room_id);
  bool parse_page_params(Connection& c, const HttpRequest& req, StorePage& page);
  void dev_token(Connection& c, HttpRequest& req);
  void refuse_host(Connection& c, const HttpRequest& req);
  // Queues the response (headers only for HEAD) and closes after it.
  void respond(Connection& c, std::string response);

  unsigned index_;
  SharedState& shared_;
  const ServerConfig& config_;
  ConnectionTable& table_;
  SocketPort& socket_;
  OutboundPort& out_;
  ShardMetrics& metrics_;
  UpgradedFn on_upgraded_;
  ServerApi api_;
};

}  // namespace rtchat::server
