// The session's Phoenix half: a decoded client message, its rate limits, and each push turned
// into its message (join/leave to the member side, publish to the owner, a history page from
// storage, typing); the answers that come back (PublishAck, StorePageDone) become replies.
#include "core/clock.h"
#include "proto/display_text.h"
#include "server/shard/room_ids.h"
#include "server/shard/session.h"
#include "server/storage/store.h"

namespace rtchat::server {
namespace {

constexpr int64_t kTypingEveryMs = 1000;  // typing is a hint; once a second per socket is plenty

}  // namespace

bool Session::take_rate_token(Connection& c) {
  int64_t now = core::mono_millis();
  c.tokens = std::min(config_.rate_burst, c.tokens + static_cast<double>(now - c.tokens_at_ms) *
                                                         config_.rate_per_s / 1000.0);
  c.tokens_at_ms = now;
  if (c.tokens < 1.0) return false;
  c.tokens -= 1.0;
  return true;
}

void Session::handle(Connection& c, proto::ClientMessage& m) {
  if (m.event == proto::ClientEvent::Heartbeat && m.topic == "phoenix") {
    return replies_.send_ok(c, m.join_ref, m.ref, m.topic);
  }
  // A join of a room topic also takes from that topic's join budget (server/shard/join_limits.h);
  // either refusal counts as a strike. Other topics get "unmatched topic" and reach no room.
  const bool is_room_join = m.event == proto::ClientEvent::Join && is_room_topic(m.topic);
  if (!take_rate_token(c) || (is_room_join && !c.take_topic_join(m.topic, core::mono_millis()))) {
    metrics_.rate_limited.add();
    if (++c.strikes >= config_.flood_strikes) return close(c, Close::Flood);
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "rate_limited");
  }
  c.strikes = 0;
  if (m.event == proto::ClientEvent::Refresh && m.topic == "phoenix") return refresh(c, m);
  if (m.event == proto::ClientEvent::Join) return members_.join(c, m);
  if (m.event == proto::ClientEvent::Leave) return members_.leave(c, m);
  Channel* ch = c.find_channel(m.topic);
  if (!ch) return replies_.send_error(c, std::nullopt, m.ref, m.topic, "unmatched topic");
  if (m.join_ref && !ch->names.same_join(m.join_ref)) return;  // a push of an earlier join: ignore
  if (!ch->is_joined) return replies_.send_error(c, m.join_ref, m.ref, m.topic, "not joined");
  handle_push(c, *ch, m);
}

void Session::handle_push(Connection& c, Channel& ch, proto::ClientMessage& m) {
  switch (m.event) {
    case proto::ClientEvent::NewMsg:
      return publish(c, ch, m);
    case proto::ClientEvent::History:
      return history(c, ch, m);
    case proto::ClientEvent::Typing:
      return typing(c, ch, m);
    case proto::ClientEvent::MarkRead:
      return mark_read(c, ch, m);
    case proto::ClientEvent::DeleteMsg:
      return delete_msg(c, ch, m);
    default:
      return replies_.send_error(c, m.join_ref, m.ref, m.topic, "unknown event");
  }
}

void Session::publish(Connection& c, Channel& ch, proto::ClientMessage& m) {
  size_t chars = proto::utf8_length(m.body);
  if (!m.payload_valid || chars == 0 || chars > config_.max_body_chars) {
    metrics_.publish_errors.add();
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "invalid body");
  }
  std::string room(ch.room());
  const unsigned owner = owner_shard(room, config_.effective_shards());
  if (out_.backlogged(owner, OutboundPort::kOwnerBacklogLimit)) {
    metrics_.publish_errors.add();
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "overloaded");
  }
  out_.send_to_shard(owner,
                     Publish{std::move(room), c.ref, m.join_ref, m.ref, std::string(c.claims.sub()),
                             std::string(c.claims.name()), std::move(m.body), core::mono_micros()});
}

// delete_msg (docs/protocol.md "Moderation"): travels the publish path with the sender's right;
// the owner has storage check it, then orders it like a message (owner_api.cpp).
void Session::delete_msg(Connection& c, Channel& ch, proto::ClientMessage& m) {
  if (!m.payload_valid || m.message_id < 1) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "invalid_payload");
  }
  const unsigned owner = owner_shard(ch.room(), config_.effective_shards());
  if (out_.backlogged(owner, OutboundPort::kOwnerBacklogLimit)) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "overloaded");
  }
  Publish p{
      std::string(ch.room()),       c.ref, m.join_ref,         m.ref, std::string(c.claims.sub()),
      std::string(c.claims.name()), {},    core::mono_micros()};
  p.delete_id = m.message_id;
  p.may_moderate = c.claims.may_moderate(ch.room());
  out_.send_to_shard(owner, std::move(p));
}

void Session::history(Connection& c, Channel& ch, proto::ClientMessage& m) {
  if (!m.payload_valid || m.limit < 1 || m.limit > Store::kMaxPageLimit ||
      (m.before_id && *m.before_id < 1)) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "invalid params");
  }
  // One page at a time per socket: a client that asks for pages faster than it reads them
  // would otherwise queue megabytes per request (each page is also capped in bytes).
  if (c.history_pending) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "history request pending");
  }
  if (out_.storage_overloaded()) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "overloaded");
  }
  c.history_pending = true;
  StorePage page;
  page.room = std::string(ch.room());
  page.conn = c.ref;
  page.join_ref = m.join_ref;
  page.ref = m.ref;
  page.before_id = m.before_id;
  page.limit = static_cast<int>(m.limit);
  out_.send_to_storage(std::move(page));
}

void Session::typing(Connection& c, Channel& ch, proto::ClientMessage& m) {
  int64_t now = core::mono_millis();
  if (now - c.last_typing_ms < kTypingEveryMs) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "rate_limited");
  }
  std::string room(ch.room());
  const unsigned owner = owner_shard(room, config_.effective_shards());
  if (out_.backlogged(owner, OutboundPort::kOwnerBacklogLimit)) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "overloaded");  // a hint: dropped
  }
  c.last_typing_ms = now;
  metrics_.typing_events.add();
  out_.send_to_shard(owner, Typing{std::move(room), c.ref, std::string(c.claims.sub()),
                                   std::string(c.claims.name())});
  replies_.send_ok(c, m.join_ref, m.ref, m.topic);
}

void Session::on_publish_ack(PublishAck&& a) {
  Connection* c = table_.lookup(a.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = topic_of(a.room);
  if (!a.ok) {
    metrics_.publish_errors.add();
    return replies_.send_error(*c, a.join_ref, a.ref, topic, a.reason);
  }
  metrics_.messages_published.add();
  proto::Reply ok;
  ok.join_ref = std::move(a.join_ref);
  ok.ref = std::move(a.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::Publish;
  ok.body.id = a.id;
  replies_.send(*c, std::move(ok));
}

void Session::on_page_done(StorePageDone&& d) {
  Connection* c = table_.lookup(d.request.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  c->history_pending = false;
  std::string topic = topic_of(d.request.room);
  if (!d.ok) {
    return replies_.send_error(*c, d.request.join_ref, d.request.ref, topic, "storage unavailable");
  }
  proto::Reply ok;
  ok.join_ref = std::move(d.request.join_ref);
  ok.ref = std::move(d.request.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::History;
  ok.body.messages = std::move(d.messages);
  ok.body.has_more = d.has_more;
  replies_.send(*c, std::move(ok));
}

}  // namespace rtchat::server
