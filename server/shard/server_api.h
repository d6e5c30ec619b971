// The server API for backends, HTTP side (docs/protocol.md "Server API"): routes the key-only
// endpoints and the room listing, sends each request to the shards that hold its data, and answers
// the HTTP connection when they answer back. The connection waits in the Http phase, named by its
// ConnRef like a socket. Shard-local; owned by HttpRoutes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/metrics.h"
#include "server/net/http_request.h"
#include "server/shard/connection_table.h"
#include "server/shard/join_limits.h"
#include "server/shard/ports.h"
#include "server/shard/shared_state.h"

namespace rtchat::server {

class ServerApi {
 public:
  // Queues an HTTP response (headers only for HEAD) and closes after it: HttpRoutes::respond.
  using RespondFn = std::function<void(Connection& c, std::string response)>;

  ServerApi(unsigned index, SharedState& shared, ConnectionTable& table, OutboundPort& out,
            ShardMetrics& metrics, RespondFn respond);

  // The API's paths: true when answered or waiting; false leaves the request to the other routes.
  bool route(Connection& c, HttpRequest& req);
  // ---- answers, on the HTTP connection's shard
  void on_publish_ack(PublishAck&& a);  // a.from_api: 201 / 200 (replayed) / the error
  void on_presence_answer(ApiPresenceAnswer&& a);
  void on_rooms_answer(ApiRoomsAnswer&& a);
  // Listings past their deadline get 503 (a shard did not answer): from the end of each turn.
  void expire_gathers(int64_t now_ms);
  [[nodiscard]] bool has_gathers() const { return !gathers_.empty(); }

 private:
  void publish(Connection& c, HttpRequest& req, std::string_view room_id);
  void presence(Connection& c, std::string_view room_id);
  void rooms(Connection& c, HttpRequest& req);
  void disconnect(Connection& c, HttpRequest& req, std::string_view user_id);
  void respond(Connection& c, std::string response) { respond_(c, std::move(response)); }

  // A rooms listing being gathered from every shard for one HTTP connection.
  struct Gather {
    ConnRef conn;
    size_t limit = 0;
    unsigned answers_left = 0;
    int64_t deadline_ms = 0;
    std::vector<std::pair<std::string, uint32_t>> rooms;
  };

  unsigned index_;
  SharedState& shared_;
  const ServerConfig& config_;
  ConnectionTable& table_;
  OutboundPort& out_;
  ShardMetrics& metrics_;
  RespondFn respond_;
  std::unordered_map<uint64_t, Gather> gathers_;  // bounded (kMaxGathersInFlight), deadline
  uint64_t last_query_id_ = 0;
  // GET /api/rooms with a user's token, per user on this shard: a burst of 10, then one every
  // 500 ms (a room directory is refreshed by hand, not polled in a loop); at most 65,536 users
  // tracked at once (then new users get 429 until buckets refill). The API key is not limited.
  KeyedRateLimit rooms_per_user_{10, 500, 65536};
};

}  // namespace rtchat::server
