// The WebSocket and Phoenix-session half of a shard: frames through wslay, client messages,
// replies. Everything here runs on the connection's shard.
#include <cstring>

#include "core/clock.h"
#include "proto/binary_codec.h"
#include "proto/display_text.h"
#include "proto/phoenix_codec.h"
#include "server/log.h"
#include "server/net/close_reasons.h"
#include "server/net/ws_frame.h"
#include "server/shard/shard.h"
#include "server/storage/store.h"

namespace rtchat::server {

bool is_valid_room_id(std::string_view id);  // shard_http.cpp

namespace {

constexpr std::string_view kRoomPrefix = "room:";
constexpr int64_t kTypingEveryMs = 1000;  // typing is a hint; once a second per socket is plenty
constexpr size_t kOwnerBacklogLimit = 65536;  // queued cross-shard messages before "overloaded"
// Requests waiting for room in the storage mailbox (which holds 8192 more) before publishes,
// history pages and catch-ups are refused: a slow disk turns into "overloaded" replies, not
// into memory.
constexpr size_t kStorageBacklogLimit = 8192;

// wslay's callbacks get the Connection; the shard is the one running on this thread.
thread_local Shard* t_shard = nullptr;
thread_local std::string t_wslay_out;  // bytes wslay wrote during one recv/send call

ssize_t wslay_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (c->ws_input.empty()) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = std::min(len, c->ws_input.size());
  std::memcpy(buf, c->ws_input.data(), n);
  c->ws_input.remove_prefix(n);
  return static_cast<ssize_t>(n);
}

ssize_t wslay_send(wslay_event_context_ptr, const uint8_t* data, size_t len, int, void*) {
  t_wslay_out.append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

void wslay_on_msg(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* user);

const wslay_event_callbacks kWslayCallbacks = {
    wslay_recv, wslay_send, nullptr, nullptr, nullptr, nullptr, wslay_on_msg,
};

bool is_room_topic(std::string_view topic) {
  return topic.starts_with(kRoomPrefix) && is_valid_room_id(topic.substr(kRoomPrefix.size()));
}

size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

// wslay closes protocol errors with a bare code; give the client a reason too.
std::string_view reason_for(uint16_t code) {
  switch (code) {
    case 1002:
      return close_reason::kProtocolError;
    case 1007:
      return close_reason::kInvalidUtf8;
    case 1009:
      return close_reason::kTooBig;
    default:
      return {};
  }
}

}  // namespace

class ShardAccess {
 public:
  static void on_message(Shard& s, Connection& c, uint8_t opcode, std::string_view payload) {
    s.on_ws_message(c, opcode, payload);
  }
};

namespace {
void wslay_on_msg(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
    ShardAccess::on_message(*t_shard, *c, arg->opcode,
                            {reinterpret_cast<const char*>(arg->msg), arg->msg_length});
  }
}
}  // namespace

bool Shard::ensure_wslay(Connection& c) {
  if (c.ws) return true;
  wslay_event_context_ptr ctx = nullptr;
  if (wslay_event_context_server_init(&ctx, &kWslayCallbacks, &c) != 0) return false;
  wslay_event_config_set_max_recv_msg_length(ctx, config_.max_message_bytes);
  c.ws.reset(ctx);
  return true;
}

bool Shard::release_idle_wslay(Connection& c) {
  // Only between messages, with nothing of wslay's own left to send: then a fresh context later
  // is indistinguishable from this one.
  bool released = false;
  if (c.ws && c.ws_idle_tick && c.frames.at_message_boundary() &&
      !wslay_event_want_write(c.ws.get())) {
    c.ws.reset();
    released = true;
  }
  c.ws_idle_tick = true;
  return released;
}

void Shard::start_websocket(Connection& c) {
  t_shard = this;
  --http_connections_;
  c.phase = Phase::WebSocket;
  c.last_rx_ms = core::mono_millis();
  metrics_.websockets_open.increment();
}

void Shard::on_ws_bytes(Connection& c, std::string_view bytes) {
  t_shard = this;
  // Headers are checked before wslay sees them: wslay answers a framing error with an empty close
  // frame, and an oversized frame only once its payload starts to arrive. Complete frames before
  // the offending header still reach wslay, so their replies go out before the close.
  FrameVerdict verdict = c.frames.feed(bytes, config_.max_message_bytes);
  std::string_view valid = verdict.ok() ? bytes : bytes.substr(0, verdict.valid_prefix);
  if (!valid.empty()) {
    if (!ensure_wslay(c)) {
      abort_connection(c);
      return;
    }
    c.ws_idle_tick = false;
    c.ws_input = valid;
    int rv = wslay_event_recv(c.ws.get());
    c.ws_input = {};
    if (c.phase != Phase::WebSocket) {  // the session closed it meanwhile
      c.ws.reset();
      return;
    }
    if (rv != 0 && !wslay_event_get_close_sent(c.ws.get()) && !wslay_event_want_write(c.ws.get())) {
      close_with(c, Close::Internal);
      return;
    }
    collect_wslay_output(c);
  }
  // No-op when wslay already closed it (a bad frame before the bad header).
  if (!verdict.ok()) close_websocket(c, verdict.close_code, verdict.reason);
}

void Shard::collect_wslay_output(Connection& c) {
  t_wslay_out.clear();
  wslay_event_send(c.ws.get());
  // wslay writes only control frames here (pong, close); each is complete and unmasked. Its close
  // frames carry a bare code (or nothing); every close we send carries code and reason.
  uint16_t close_code_sent = 0;
  std::string_view out = t_wslay_out;
  while (out.size() >= 2) {
    auto opcode = static_cast<uint8_t>(out[0]) & 0x0F;
    size_t len = static_cast<uint8_t>(out[1]) & 0x7F;  // control frames: <= 125
    size_t total = 2 + len;
    if (out.size() < total) break;
    const bool is_close = opcode == 0x8;
    if (is_close && len >= 2) {
      close_code_sent =
          static_cast<uint16_t>((static_cast<uint8_t>(out[2]) << 8) | static_cast<uint8_t>(out[3]));
    }
    if (is_close && len == 0 && !wslay_event_get_close_received(c.ws.get())) {
      // wslay's own close for an error it met without a code: a framing error.
      close_code_sent = static_cast<uint16_t>(CloseCode::ProtocolError);
      queue_frame(c, make_close_frame(close_code_sent, close_reason::kProtocolError));
    } else if (is_close && len == 2) {
      queue_frame(c, make_close_frame(close_code_sent, reason_for(close_code_sent)));
    } else {
      // A pong, the echo of a client close with its reason, or the empty echo of an empty close.
      queue_frame(c, core::SharedFrame::copy_of(out.substr(0, total)));
    }
    out.remove_prefix(total);
  }
  if (wslay_event_get_close_sent(c.ws.get())) {
    metrics_.count_close(close_code_sent != 0 ? close_code_sent
                                              : wslay_event_get_status_code_sent(c.ws.get()));
    c.ws.reset();
    close_after_flush(c);
  }
}

void Shard::on_ws_message(Connection& c, uint8_t opcode, std::string_view payload) {
  if (c.phase != Phase::WebSocket) return;
  bool binary_frame = opcode == WSLAY_BINARY_FRAME;
  if (binary_frame != (c.format == WireFormat::Binary)) {
    close_with(c, Close::UnsupportedData);
    return;
  }
  proto::ClientMessage m;
  proto::DecodeError err = binary_frame ? proto::binary::decode_client(payload, m)
                                        : proto::phoenix::decode_client(payload, m);
  if (err != proto::DecodeError::None) {
    close_with(c, binary_frame ? Close::BadBuffer : Close::NotEnvelope);
    return;
  }
  metrics_.messages_in.add();
  handle_client_message(c, m);
}

bool Shard::storage_overloaded() const { return storage_outbox_->overloaded(kStorageBacklogLimit); }

bool Shard::take_rate_token(Connection& c) {
  int64_t now = core::mono_millis();
  c.tokens = std::min(config_.rate_burst, c.tokens + static_cast<double>(now - c.tokens_at_ms) *
                                                         config_.rate_per_s / 1000.0);
  c.tokens_at_ms = now;
  if (c.tokens < 1.0) return false;
  c.tokens -= 1.0;
  return true;
}

void Shard::handle_client_message(Connection& c, proto::ClientMessage& m) {
  if (m.event == proto::ClientEvent::Heartbeat && m.topic == "phoenix") {
    proto::Reply r;
    r.join_ref = m.join_ref;
    r.ref = m.ref;
    r.topic = m.topic;
    send_reply(c, std::move(r));
    return;
  }
  // A join of a room topic also takes from that topic's join budget (server/shard/join_limits.h);
  // either refusal counts as a strike. Other topics get "unmatched topic" and reach no room.
  const bool is_room_join = m.event == proto::ClientEvent::Join && is_room_topic(m.topic);
  if (!take_rate_token(c) || (is_room_join && !c.take_topic_join(m.topic, core::mono_millis()))) {
    metrics_.rate_limited.add();
    if (++c.strikes >= config_.flood_strikes) {
      close_with(c, Close::Flood);
      return;
    }
    send_error_reply(c, m.join_ref, m.ref, m.topic, "rate_limited");
    return;
  }
  c.strikes = 0;
  switch (m.event) {
    case proto::ClientEvent::Join:
      handle_join(c, m);
      return;
    case proto::ClientEvent::Leave:
      handle_leave(c, m);
      return;
    default:
      break;
  }
  Channel* ch = c.find_channel(m.topic);
  if (!ch) {
    send_error_reply(c, std::nullopt, m.ref, m.topic, "unmatched topic");
    return;
  }
  if (m.join_ref && m.join_ref != ch->join_ref) return;  // a push of an earlier join: ignore
  if (!ch->is_joined) {
    send_error_reply(c, m.join_ref, m.ref, m.topic, "not joined");
    return;
  }
  handle_push(c, *ch, m);
}

void Shard::handle_join(Connection& c, proto::ClientMessage& m) {
  std::string_view topic = m.topic;
  if (!is_room_topic(topic)) {
    metrics_.joins_rejected.add();
    send_error_reply(c, std::nullopt, m.ref, m.topic, "unmatched topic");
    return;
  }
  std::string room(topic.substr(kRoomPrefix.size()));
  if (!m.payload_valid) {
    metrics_.joins_rejected.add();
    send_error_reply(c, m.join_ref, m.ref, m.topic, "invalid params");
    return;
  }
  if (!room_allowed(c.claims, room)) {
    metrics_.joins_rejected.add();
    send_error_reply(c, m.join_ref, m.ref, m.topic, "unauthorized");
    return;
  }
  if (Channel* old = c.find_channel(m.topic)) {
    // A second join of a joined topic replaces the first (Phoenix: phx_close for the old ref).
    send_channel_close(c, *old);
    if (old->is_joined) remove_local_member(room, c.ref);
    send_to_shard(owner_shard(room, config_.effective_shards()), LeaveRoom{room, c.ref});
    c.take_channel(old);
  }
  if (c.channels.size() >= config_.max_rooms_per_conn) {
    metrics_.joins_rejected.add();
    send_error_reply(c, m.join_ref, m.ref, m.topic, "too many channels joined");
    return;
  }
  Channel ch;
  ch.topic = m.topic;
  ch.join_id = ++c.last_join_id;
  ch.join_ref = m.join_ref;
  ch.join_push_ref = m.ref;
  JoinRoom j;
  j.room = std::move(room);
  j.conn = c.ref;
  j.join_id = ch.join_id;
  j.join_ref = m.join_ref;
  j.user_id = c.claims.sub;
  j.user_name = c.claims.name;
  // Shown to every member in presence: visible characters only, at most kMaxDeviceBytes.
  if (m.device) j.device = proto::clean_display_text(*m.device, proto::kMaxDeviceBytes);
  j.format = c.format;
  j.last_seen_id = m.last_seen_id;
  c.channels.push_back(std::move(ch));
  const unsigned owner = owner_shard(j.room, config_.effective_shards());  // before j moves
  send_to_shard(owner, std::move(j));
}

void Shard::handle_leave(Connection& c, proto::ClientMessage& m) {
  Channel* ch = c.find_channel(m.topic);
  proto::Reply ok;
  ok.join_ref = m.join_ref;
  ok.ref = m.ref;
  ok.topic = m.topic;
  if (!ch) {
    send_reply(c, std::move(ok));  // leaving a topic not joined is fine, and closes nothing
    return;
  }
  if (m.join_ref && m.join_ref != ch->join_ref) return;  // stale leave
  send_reply(c, std::move(ok));
  send_channel_close(c, *ch);
  std::string room(ch->room());
  if (ch->is_joined) remove_local_member(room, c.ref);
  const unsigned owner = owner_shard(room, config_.effective_shards());
  send_to_shard(owner, LeaveRoom{std::move(room), c.ref});
  c.take_channel(ch);
}

void Shard::handle_push(Connection& c, Channel& ch, proto::ClientMessage& m) {
  const std::string room(ch.room());
  unsigned owner = owner_shard(room, config_.effective_shards());
  switch (m.event) {
    case proto::ClientEvent::NewMsg: {
      size_t chars = utf8_chars(m.body);
      if (!m.payload_valid || chars == 0 || chars > config_.max_body_chars) {
        metrics_.publish_errors.add();
        send_error_reply(c, m.join_ref, m.ref, m.topic, "invalid body");
        return;
      }
      if (owner != index_ && outboxes_[owner]->overloaded(kOwnerBacklogLimit)) {
        metrics_.publish_errors.add();
        send_error_reply(c, m.join_ref, m.ref, m.topic, "overloaded");
        return;
      }
      send_to_shard(owner, Publish{room, c.ref, m.join_ref, m.ref, c.claims.sub, c.claims.name,
                                   std::move(m.body), core::mono_micros()});
      return;
    }
    case proto::ClientEvent::History: {
      if (!m.payload_valid || m.limit < 1 || m.limit > Store::kMaxPageLimit ||
          (m.before_id && *m.before_id < 1)) {
        send_error_reply(c, m.join_ref, m.ref, m.topic, "invalid params");
        return;
      }
      // One page at a time per socket: a client that asks for pages faster than it reads them
      // would otherwise queue megabytes per request (each page is also capped in bytes).
      if (c.history_pending) {
        send_error_reply(c, m.join_ref, m.ref, m.topic, "history request pending");
        return;
      }
      if (storage_overloaded()) {
        send_error_reply(c, m.join_ref, m.ref, m.topic, "overloaded");
        return;
      }
      c.history_pending = true;
      StorePage page;
      page.room = room;
      page.conn = c.ref;
      page.join_ref = m.join_ref;
      page.ref = m.ref;
      page.before_id = m.before_id;
      page.limit = static_cast<int>(m.limit);
      send_to_storage(std::move(page));
      return;
    }
    case proto::ClientEvent::Typing: {
      int64_t now = core::mono_millis();
      if (now - c.last_typing_ms < kTypingEveryMs) {
        send_error_reply(c, m.join_ref, m.ref, m.topic, "rate_limited");
        return;
      }
      c.last_typing_ms = now;
      metrics_.typing_events.add();
      send_to_shard(owner, Typing{room, c.ref, c.claims.sub, c.claims.name});
      proto::Reply ok;
      ok.join_ref = m.join_ref;
      ok.ref = m.ref;
      ok.topic = m.topic;
      send_reply(c, std::move(ok));
      return;
    }
    default:
      send_error_reply(c, m.join_ref, m.ref, m.topic, "unknown event");
      return;
  }
}

void Shard::send_reply(Connection& c, proto::Reply&& reply) {
  queue_frame(c, encode_frame(
                     c.format, [&](std::string& o) { proto::phoenix::encode_reply(reply, o); },
                     [&](std::string& o) { proto::binary::encode_reply(reply, o); }));
}

void Shard::send_channel_close(Connection& c, const Channel& ch) {
  queue_frame(
      c,
      encode_frame(
          c.format, [&](std::string& o) { proto::phoenix::encode_close(ch.join_ref, ch.topic, o); },
          [&](std::string& o) { proto::binary::encode_close(ch.join_ref, ch.topic, o); }));
}

void Shard::send_error_reply(Connection& c, const std::optional<std::string>& join_ref,
                             const std::optional<std::string>& ref, std::string_view topic,
                             std::string_view reason) {
  proto::Reply r;
  r.join_ref = join_ref;
  r.ref = ref;
  r.topic = std::string(topic);
  r.status = proto::ReplyStatus::Error;
  r.body.kind = proto::ReplyBody::Kind::Error;
  r.body.reason = std::string(reason);
  send_reply(c, std::move(r));
}

core::SharedFrame Shard::encode_for(WireFormat format, const proto::ChatMessage& msg,
                                    std::string_view topic) {
  return encode_frame(
      format, [&](std::string& o) { proto::phoenix::encode_new_msg(topic, msg, o); },
      [&](std::string& o) { proto::binary::encode_new_msg(topic, msg, o); });
}

}  // namespace rtchat::server
