// The server API for backends, shard side (docs/protocol.md "Server API"). An API publish travels
// the socket publish's path (Publish to the room's owner, ordered, persisted, acknowledged after
// the commit, fanned out after it); the
// reads gather what the owners hold through the mailboxes; a disconnect is broadcast to every
// shard (and, in cluster mode, node). The HTTP connection waits in the Http phase, named by its
// ConnRef like a socket, until the answer comes back or its deadline passes.
#include <algorithm>
#include <charconv>

#include "core/clock.h"
#include "proto/display_text.h"
#include "proto/phoenix_codec.h"
#include "server/auth/api_key.h"
#include "server/net/http_response.h"
#include "server/net/server_api_json.h"
#include "server/shard/shard.h"

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
constexpr size_t kMaxPublishesWaitingPerRoom = 1024;  // API publishes while the room loads
constexpr size_t kOwnerBacklog = 65536;  // as a socket publish: "overloaded" past this backlog
// The identity of an API publish without user_id/name: visibly the server, not a person.
constexpr std::string_view kApiUserId = "api";
constexpr std::string_view kApiUserName = "API";

std::string json_error(std::string_view reason) {
  std::string body = "{\"error\":";
  proto::phoenix::append_json_string(body, reason);
  body += "}";
  return body;
}

std::string api_error(int status, std::string_view reason, std::string_view extra = {}) {
  return http_response(status, std::string(kJson), json_error(reason), std::string(extra));
}

size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
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

bool is_valid_room_id(std::string_view id);  // shard_http.cpp

bool Shard::route_server_api(Connection& c, HttpRequest& req) {
  const std::string& path = req.path;
  if (path == "/api/rooms") {
    if (req.method != "GET" && req.method != "HEAD") {
      respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: GET, HEAD\r\n"));
      return true;
    }
    handle_api_rooms(c, req);
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
  const bool publish = !users && action == "/messages" && req.method == "POST";
  const bool presence = !users && action == "/presence";
  const bool disconnect = users && action == "/disconnect";
  if (!publish && !presence && !disconnect) return false;  // history, 404s: the old routes
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
  if (presence && !get) {
    respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: GET, HEAD\r\n"));
  } else if (disconnect && req.method != "POST") {
    respond(c, http_response(405, "text/plain", "method not allowed\n", "Allow: POST\r\n"));
  } else if (publish) {
    handle_api_publish(c, req, id);
  } else if (presence) {
    handle_api_presence(c, id);
  } else {
    handle_api_disconnect(c, req, id);
  }
  return true;
}

void Shard::handle_api_publish(Connection& c, HttpRequest& req, std::string_view room_id) {
  if (!is_valid_room_id(room_id)) return respond(c, api_error(400, "invalid room id"));
  std::string error;
  auto body = parse_api_publish(req.body, error);
  if (!body) return respond(c, api_error(400, error));
  const size_t chars = utf8_chars(body->body);
  if (chars == 0) return respond(c, api_error(400, "empty body"));
  if (chars > config_.max_body_chars) {
    return respond(
        c, api_error(413, "body over " + std::to_string(config_.max_body_chars) + " characters"));
  }
  if (body->user_id.size() > kMaxJwtSubBytes) return respond(c, api_error(400, "user_id too long"));
  std::string key(req.header("idempotency-key"));
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return respond(c, api_error(400, "Idempotency-Key over 200 bytes"));
  }
  const unsigned owner = owner_shard(room_id, config_.effective_shards());
  if (owner != index_ && outboxes_[owner]->overloaded(kOwnerBacklog)) {
    return respond(c, api_error(503, "overloaded", "Retry-After: 1\r\n"));
  }
  Publish p;
  p.room = std::string(room_id);
  p.conn = c.ref;
  p.user_id = body->user_id.empty() ? std::string(kApiUserId) : std::move(body->user_id);
  // Shown to every member, like a token's name: only visible characters (display_text.h).
  p.user_name = proto::clean_display_text(body->name, kMaxJwtNameBytes);
  if (p.user_name.empty()) p.user_name = body->name.empty() ? std::string(kApiUserName) : p.user_id;
  p.body = std::move(body->body);
  p.received_us = core::mono_micros();
  p.from_api = true;
  p.idempotency_key = std::move(key);
  c.deadline_ms = core::mono_millis() + kApiWaitMs;  // answered by PublishAck (on_publish_ack)
  send_to_shard(owner, std::move(p));
}

void Shard::handle_api_presence(Connection& c, std::string_view room_id) {
  if (!is_valid_room_id(room_id)) return respond(c, api_error(400, "invalid room id"));
  c.deadline_ms = core::mono_millis() + kApiWaitMs;
  send_to_shard(owner_shard(room_id, config_.effective_shards()),
                ApiPresenceQuery{std::string(room_id), c.ref});
}

void Shard::handle_api_rooms(Connection& c, HttpRequest& req) {
  ApiRoomsQuery q;
  // The API key lists every room; a user's token the rooms its claim allows (absent: all).
  const auto auth = check_api_key(config_.api_keys, req.header("authorization"));
  if (auth != ApiKeyCheck::Ok) {
    JwtClaims claims;
    std::string_view token = bearer_token(req.header("authorization"));
    if (token.empty() || verify_jwt(token, config_.jwt_secret, core::unix_millis() / 1000,
                                    config_.jwt_leeway_s, claims) != JwtError::None) {
      return respond(
          c, api_error(401, "API key or user token required", "WWW-Authenticate: Bearer\r\n"));
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
  if (rooms_gathers_.size() >= kMaxGathersInFlight) {
    return respond(c, api_error(503, "overloaded", "Retry-After: 1\r\n"));
  }
  q.conn = c.ref;
  q.query_id = ++last_query_id_;
  const unsigned shards = config_.effective_shards();
  rooms_gathers_[q.query_id] =
      RoomsGather{c.ref, q.limit, shards, core::mono_millis() + kGatherDeadlineMs, {}};
  c.deadline_ms = core::mono_millis() + kApiWaitMs;
  for (unsigned s = 0; s < shards; ++s) send_to_shard(s, ApiRoomsQuery(q));
}

void Shard::handle_api_disconnect(Connection& c, HttpRequest& req, std::string_view user_id) {
  if (user_id.empty() || user_id.size() > kMaxJwtSubBytes) {
    return respond(c, api_error(400, "invalid user id"));
  }
  auto reason = parse_disconnect_reason(req.body);
  if (!reason) return respond(c, api_error(400, "expected {\"reason\": \"...\"}"));
  DisconnectUser d{std::string(user_id), disconnect_close_reason(*reason)};
  // Best effort: the sockets open on this node now (the count every shard keeps for
  // --max-conns-per-user); the closes follow on each shard's next turn.
  const uint32_t closed = shared_.sockets_per_user.count(user_id);
  if (!config_.cluster_url.empty()) send_to_shard(config_.effective_shards(), DisconnectUser(d));
  for (unsigned s = 0; s < config_.effective_shards(); ++s) send_to_shard(s, DisconnectUser(d));
  respond(c, http_response(202, std::string(kJson), "{\"closed\":" + std::to_string(closed) + "}"));
}

// ---------------------------------------------------------------- owner side

bool Shard::hold_api_publish(Publish& m) {
  if (!m.idempotency_key.empty()) {
    int64_t id = 0;
    switch (idempotency_.begin(m.room, m.idempotency_key, core::mono_millis(), id)) {
      case IdempotencyTable::Seen::Done:
        send_to_shard(m.conn.shard, PublishAck{m.room, m.conn, {}, {}, true, id, {}, true, true});
        return true;
      case IdempotencyTable::Seen::Pending:
        send_to_shard(m.conn.shard,
                      PublishAck{m.room, m.conn, {}, {}, false, 0, "in progress", true, false});
        return true;
      case IdempotencyTable::Seen::New:
        break;
    }
  }
  // Cluster mode: Redis orders it with or without a record here (its floor is the stream's).
  if (!config_.cluster_url.empty()) return false;
  OwnedRoom* room = owner_.find(m.room);
  if (room && room->loaded) return false;
  // A room not in use: its last id is read first, as for a first join.
  if (!room && storage_overloaded()) {
    ack_publish(m, false, 0, "overloaded");
    return true;
  }
  OwnedRoom& record = owner_.ensure(m.room);
  if (record.publishes_waiting.size() >= kMaxPublishesWaitingPerRoom) {
    ack_publish(m, false, 0, "overloaded");
    return true;
  }
  if (!record.load_pending) {
    record.load_pending = true;
    send_to_storage(StoreLoadRoom{m.room});
  }
  record.publishes_waiting.push_back(std::move(m));
  return true;
}

void Shard::retry_waiting_publishes(OwnedRoom& room, bool loaded) {
  std::vector<Publish> waiting = std::move(room.publishes_waiting);
  room.publishes_waiting.clear();
  for (auto& p : waiting) {
    if (loaded) {
      order_publish(std::move(p));  // its Idempotency-Key is already pending
    } else {
      ack_publish(p, false, 0, "storage unavailable");
    }
  }
}

void Shard::ack_publish(const Publish& o, bool ok, int64_t id, std::string reason) {
  if (o.from_api && !o.idempotency_key.empty()) {
    if (ok) {
      idempotency_.complete(o.room, o.idempotency_key, id);
    } else {
      idempotency_.abandon(o.room, o.idempotency_key);
    }
  }
  send_to_shard(o.conn.shard, PublishAck{o.room, o.conn, o.join_ref, o.ref, ok, ok ? id : 0,
                                         std::move(reason), o.from_api, false});
}

void Shard::on_api_presence_query(ApiPresenceQuery&& q) {
  ApiPresenceAnswer a{q.conn, {}};
  if (const OwnedRoom* room = owner_.find(q.room)) a.entries = owner_.presence_state(*room);
  send_to_shard(q.conn.shard, std::move(a));
}

void Shard::on_api_rooms_query(ApiRoomsQuery&& q) {
  ApiRoomsAnswer a{q.conn, q.query_id, {}};
  JwtClaims claim;  // the rooms claim of the asking user (absent: every room)
  claim.rooms = std::move(q.allowed);
  owner_.for_each_room([&](const std::string& id, const OwnedRoom& room) {
    if (!room.has_members() && room.remote_presence.empty()) return;
    if (!id.starts_with(q.prefix)) return;
    if (!room_allowed(claim, id)) return;
    uint32_t users = static_cast<uint32_t>(room.presence.size());
    for (const auto& [user, metas] : room.remote_presence) users += !room.presence.contains(user);
    a.rooms.emplace_back(id, users);
  });
  // Only the first limit (+1, to know has_more) of this shard can be among the first overall.
  bool ignored = false;
  keep_first_rooms(a.rooms, q.limit + 1, ignored);
  send_to_shard(q.conn.shard, std::move(a));
}

// ---------------------------------------------------------------- answers (HTTP shard)

void Shard::on_api_presence_answer(ApiPresenceAnswer&& a) {
  Connection* c = lookup(a.conn);
  if (!c || c->phase != Phase::Http) return;  // the client gave up
  std::string body;
  encode_presence_answer(a.entries, body);
  respond(*c, http_response(200, std::string(kJson), body));
}

void Shard::on_api_rooms_answer(ApiRoomsAnswer&& a) {
  auto it = rooms_gathers_.find(a.query_id);
  if (it == rooms_gathers_.end()) return;  // past its deadline
  RoomsGather& g = it->second;
  for (auto& r : a.rooms) g.rooms.push_back(std::move(r));
  if (--g.answers_left > 0) return;
  RoomsGather done = std::move(g);
  rooms_gathers_.erase(it);
  Connection* c = lookup(done.conn);
  if (!c || c->phase != Phase::Http) return;
  bool has_more = false;
  keep_first_rooms(done.rooms, done.limit, has_more);
  std::string body;
  encode_rooms_answer(done.rooms, has_more, body);
  respond(*c, http_response(200, std::string(kJson), body));
}

void Shard::expire_rooms_gathers(int64_t now_ms) {
  for (auto it = rooms_gathers_.begin(); it != rooms_gathers_.end();) {
    if (now_ms < it->second.deadline_ms) {
      ++it;
      continue;
    }
    if (Connection* c = lookup(it->second.conn); c && c->phase == Phase::Http) {
      respond(*c, api_error(503, "a shard did not answer in time", "Retry-After: 1\r\n"));
    }
    it = rooms_gathers_.erase(it);
  }
}

bool Shard::answer_api_publish(PublishAck& a) {
  if (!a.from_api) return false;
  Connection* c = lookup(a.conn);
  if (!c || c->phase != Phase::Http) return true;  // the client gave up; the message stands
  if (!a.ok) {
    metrics_.publish_errors.add();
    respond(*c, api_error(publish_error_status(a.reason), a.reason,
                          a.reason == "overloaded" ? "Retry-After: 1\r\n" : ""));
    return true;
  }
  if (!a.replayed) metrics_.messages_published.add();
  respond(*c, http_response(a.replayed ? 200 : 201, std::string(kJson),
                            "{\"id\":" + std::to_string(a.id) + "}"));
  return true;
}

// ---------------------------------------------------------------- every shard

void Shard::on_disconnect_user(DisconnectUser&& d) {
  for (auto& slot : slots_) {
    if (!slot) continue;
    Connection& c = *slot;
    if (c.phase != Phase::WebSocket || c.claims.sub != d.user_id) continue;
    close_websocket(c, static_cast<uint16_t>(CloseCode::DisconnectedByServer), d.reason);
  }
}

}  // namespace rtchat::server
