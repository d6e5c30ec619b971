// The server API for backends, shard side (docs/protocol.md "Server API"). An API publish travels
// the socket publish's path (Publish to the room's owner, ordered, persisted, acknowledged after
// the commit, fanned out after it); the
// reads gather what the owners hold through the mailboxes; a disconnect is broadcast to every
// shard (and, in cluster mode, node). The HTTP connection waits in the Http phase, named by its
// ConnRef like a socket, until the answer comes back or its deadline passes.
#include "server/shard/server_api.h"

#include <algorithm>
#include <charconv>

#include "core/clock.h"
#include "proto/display_text.h"
#include "proto/jwt.h"
#include "proto/phoenix_codec.h"
#include "server/auth/api_key.h"
#include "server/net/http_response.h"
#include "server/net/server_api_json.h"
#include "server/shard/room_ids.h"

namespace rtchat::server {
namespace {

constexpr std::string_view kJson = "application/json";
// An HTTP request waits this long for the owner's answer (the commit, the gather) before the
// sweep drops it: far above a healthy commit, below a client's usual timeout.
constexpr int64_t kApiWaitMs = 30000;
// A rooms listing waits this long for every shard; a stuck shard costs one 503, not a hang.
constexpr int64_t kGatherDeadlineMs = 2000;
constexpr size_t kMaxGathersInFlight = 256;  // per shard: listings are occasional requests
constexpr size_t kDefaultRoomsLimit = 100;
constexpr size_t kMaxRoomsLimit = 1000;
constexpr size_t kMaxIdempotencyKeyBytes = 200;
// The identity of an API publish without user_id/name: visibly the server, not a person.
constexpr std::string_view kApiUserId = "api";
constexpr std::string_view kApiUserName = "API";

std::string api_error(int status, std::string_view reason, std::string_view extra = {}) {
  return http_response(status, std::string(kJson), json_error(reason), std::string(extra));
}

// The status of a failed publish: the same reasons as a socket publish's error reply.
int publish_error_status(std::string_view reason) {
  if (reason == "overloaded" || reason == "storage unavailable" ||
      reason == "cluster unavailable") {
    return 503;
  }
  if (reason == "in progress") return 409;
  return 500;
}

}  // namespace

// ---------------------------------------------------------------- routes (HTTP shard)

ServerApi::ServerApi(unsigned index, SharedState& shared, ConnectionTable& table, OutboundPort& out,
                     ShardMetrics& metrics, RespondFn respond)
    : index_(index),
      shared_(shared),
      config_(*shared.config),
      table_(table),
      out_(out),
      metrics_(metrics),
      respond_(std::move(respond)) {}

bool ServerApi::route(Connection& c, HttpRequest& req) {
  const std::string_view path = req.path;
  if (path == "/api/rooms") {
    if (req.method != "GET" && req.method != "HEAD") {
      respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: GET, HEAD\r\n"));
      return true;
    }
    rooms(c, req);
    return true;
  }
  const bool users = path.starts_with("/api/users/");
  if (!users && !path.starts_with("/api/rooms/")) return false;
  std::string_view rest = std::string_view(path).substr(11);  // both prefixes are 11 bytes
  // The last segment is the action: a user id (percent-decoded) may itself hold a '/'.
  auto slash = rest.rfind('/');
  if (slash == std::string_view::npos) return false;
  std::string_view action = rest.substr(slash);
  std::string_view id = rest.substr(0, slash);
  const bool is_publish = !users && action == "/messages" && req.method == "POST";
  const bool is_presence = !users && action == "/presence";
  const bool is_disconnect = users && action == "/disconnect";
  if (!is_publish && !is_presence && !is_disconnect) return false;  // history, 404s: the old routes
  switch (check_api_key(config_.api_keys, req.header("authorization"))) {
    case ApiKeyCheck::Off:
      respond(c, api_error(404, "not found"));
      return true;
    case ApiKeyCheck::Missing:
    case ApiKeyCheck::Wrong:
      respond(c, api_error(401, "invalid API key", "WWW-Authenticate: Bearer\r\n"));
      return true;
    case ApiKeyCheck::Ok:
      break;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (is_presence && !get) {
    respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: GET, HEAD\r\n"));
  } else if (is_disconnect && req.method != "POST") {
    respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: POST\r\n"));
  } else if (is_publish) {
    publish(c, req, id);
  } else if (is_presence) {
    presence(c, id);
  } else {
    disconnect(c, req, id);
  }
  return true;
}

void ServerApi::publish(Connection& c, HttpRequest& req, std::string_view room_id) {
  if (!is_valid_room_id(room_id)) return respond(c, api_error(400, "invalid room id"));
  std::string error;
  auto body = parse_api_publish(req.body, error);
  if (!body) return respond(c, api_error(400, error));
  const size_t chars = proto::utf8_length(body->body);
  if (chars == 0) return respond(c, api_error(400, "empty body"));
  if (chars > config_.max_body_chars) {
    return respond(
        c, api_error(413, "body over " + std::to_string(config_.max_body_chars) + " characters"));
  }
  if (body->user_id.size() > proto::kMaxJwtSubBytes)
    return respond(c, api_error(400, "user_id too long"));
  std::string key(req.header("idempotency-key"));
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return respond(c, api_error(400, "Idempotency-Key over 200 bytes"));
  }
  const unsigned owner = owner_shard(room_id, config_.effective_shards());
  if (owner != index_ && out_.backlogged(owner, OutboundPort::kOwnerBacklogLimit)) {
    return respond(c, api_error(503, "overloaded", "Retry-After: 1\r\n"));
  }
  Publish p;
  p.room = std::string(room_id);
  p.conn = c.ref;
  p.user_id = body->user_id.empty() ? std::string(kApiUserId) : std::move(body->user_id);
  // Shown to every member, like a token's name: only visible characters (display_text.h).
  p.user_name = proto::clean_display_text(body->name, proto::kMaxJwtNameBytes);
  if (p.user_name.empty()) p.user_name = body->name.empty() ? std::string(kApiUserName) : p.user_id;
  p.body = std::move(body->body);
  p.received_us = core::mono_micros();
  p.from_api = true;
  p.idempotency_key = std::move(key);
  c.deadline_ms = core::mono_millis() + kApiWaitMs;  // answered by PublishAck (on_publish_ack)
  out_.send_to_shard(owner, std::move(p));
}

void ServerApi::presence(Connection& c, std::string_view room_id) {
  if (!is_valid_room_id(room_id)) return respond(c, api_error(400, "invalid room id"));
  c.deadline_ms = core::mono_millis() + kApiWaitMs;
  out_.send_to_shard(owner_shard(room_id, config_.effective_shards()),
                     ApiPresenceQuery{std::string(room_id), c.ref});
}

void ServerApi::rooms(Connection& c, HttpRequest& req) {
  ApiRoomsQuery q;
  // The API key lists every room; a user's token the rooms its claim allows (absent: all).
  const auto auth = check_api_key(config_.api_keys, req.header("authorization"));
  if (auth != ApiKeyCheck::Ok) {
    proto::JwtClaims claims;
    std::string_view token = bearer_token(req.header("authorization"));
    if (token.empty() || proto::verify_jwt(token, config_.jwt_secret, core::unix_millis() / 1000,
                                           config_.jwt_leeway_s, claims) != proto::JwtError::None) {
      return respond(
          c, api_error(401, "API key or user token required", "WWW-Authenticate: Bearer\r\n"));
    }
    if (!rooms_per_user_.try_take(claims.sub, core::mono_millis())) {
      return respond(c, api_error(429, "rate_limited", "Retry-After: 1\r\n"));
    }
    q.allowed = std::move(claims.rooms);
  }
  q.limit = kDefaultRoomsLimit;
  if (auto l = req.query_param("limit"); l && !l->empty()) {
    size_t v = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec != std::errc() || p != l->data() + l->size() || v < 1 || v > kMaxRoomsLimit) {
      return respond(c, api_error(400, "invalid limit (1..1000)"));
    }
    q.limit = v;
  }
  if (auto prefix = req.query_param("prefix")) q.prefix = *prefix;
  if (gathers_.size() >= kMaxGathersInFlight) {
    return respond(c, api_error(503, "overloaded", "Retry-After: 1\r\n"));
  }
  q.conn = c.ref;
  q.query_id = ++last_query_id_;
  const unsigned shards = config_.effective_shards();
  gathers_[q.query_id] =
      Gather{c.ref, q.limit, shards, core::mono_millis() + kGatherDeadlineMs, {}};
  c.deadline_ms = core::mono_millis() + kApiWaitMs;
  for (unsigned s = 0; s < shards; ++s) out_.send_to_shard(s, ApiRoomsQuery(q));
}

void ServerApi::disconnect(Connection& c, HttpRequest& req, std::string_view user_id) {
  if (user_id.empty() || user_id.size() > proto::kMaxJwtSubBytes) {
    return respond(c, api_error(400, "invalid user id"));
  }
  auto reason = parse_disconnect_reason(req.body);
  if (!reason) return respond(c, api_error(400, "expected {\"reason\": \"...\"}"));
  DisconnectUser d{std::string(user_id), disconnect_close_reason(*reason)};
  // Best effort: the sockets open on this node now (the count every shard keeps for
  // --max-conns-per-user); the closes follow on each shard's next turn.
  const uint32_t closed = shared_.sockets_per_user.count(user_id);
  if (!config_.cluster_url.empty()) {
    out_.send_to_shard(config_.effective_shards(), DisconnectUser(d));
  }
  for (unsigned s = 0; s < config_.effective_shards(); ++s)
    out_.send_to_shard(s, DisconnectUser(d));
  respond(c, http_response(202, std::string(kJson), "{\"closed\":" + std::to_string(closed) + "}"));
}

// ---------------------------------------------------------------- answers (HTTP shard)

void ServerApi::on_presence_answer(ApiPresenceAnswer&& a) {
  Connection* c = table_.lookup(a.conn);
  if (!c || c->phase != Phase::Http) return;  // the client gave up
  std::string body;
  encode_presence_answer(a.entries, body);
  respond(*c, http_response(200, std::string(kJson), body));
}

void ServerApi::on_rooms_answer(ApiRoomsAnswer&& a) {
  auto it = gathers_.find(a.query_id);
  if (it == gathers_.end()) return;  // past its deadline
  Gather& g = it->second;
  for (auto& r : a.rooms) g.rooms.push_back(std::move(r));
  if (--g.answers_left > 0) return;
  Gather done = std::move(g);
  gathers_.erase(it);
  Connection* c = table_.lookup(done.conn);
  if (!c || c->phase != Phase::Http) return;
  bool has_more = false;
  keep_first_rooms(done.rooms, done.limit, has_more);
  std::string body;
  encode_rooms_answer(done.rooms, has_more, body);
  respond(*c, http_response(200, std::string(kJson), body));
}

void ServerApi::expire_gathers(int64_t now_ms) {
  for (auto it = gathers_.begin(); it != gathers_.end();) {
    if (now_ms < it->second.deadline_ms) {
      ++it;
      continue;
    }
    if (Connection* c = table_.lookup(it->second.conn); c && c->phase == Phase::Http) {
      respond(*c, api_error(503, "a shard did not answer in time", "Retry-After: 1\r\n"));
    }
    it = gathers_.erase(it);
  }
}

void ServerApi::on_publish_ack(PublishAck&& a) {
  Connection* c = table_.lookup(a.conn);
  if (!c || c->phase != Phase::Http) return;  // the client gave up; the message stands
  if (!a.ok) {
    metrics_.publish_errors.add();
    return respond(*c, api_error(publish_error_status(a.reason), a.reason,
                                 a.reason == "overloaded" ? "Retry-After: 1\r\n" : ""));
  }
  if (!a.replayed) metrics_.messages_published.add();
  respond(*c, http_response(a.replayed ? 200 : 201, std::string(kJson),
                            "{\"id\":" + std::to_string(a.id) + "}"));
}

}  // namespace rtchat::server
