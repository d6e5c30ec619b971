#include "server/shard/member_rooms.h"

#include "core/clock.h"
#include "proto/display_text.h"
#include "proto/jwt.h"
#include "server/shard/room_ids.h"

namespace rtchat::server {

MemberRooms::MemberRooms(const ServerConfig& config, ConnectionTable& table, Replies& replies,
                         OutboundPort& out, ShardMetrics& metrics)
    : config_(config), table_(table), replies_(replies), out_(out), metrics_(metrics) {}

unsigned MemberRooms::owner_of(const std::string& room) const {
  return owner_shard(room, config_.effective_shards());
}

void MemberRooms::join(Connection& c, proto::ClientMessage& m) {
  if (!is_room_topic(m.topic)) {
    metrics_.joins_rejected.add();
    return replies_.send_error(c, std::nullopt, m.ref, m.topic, "unmatched topic");
  }
  std::string room(std::string_view(m.topic).substr(kRoomPrefix.size()));
  std::string_view refused;
  if (!m.payload_valid) {
    refused = "invalid params";
  } else if (!c.claims.room_allowed(room)) {
    refused = "unauthorized";
  } else if (out_.backlogged(owner_of(room), OutboundPort::kOwnerBacklogLimit)) {
    refused = "overloaded";  // the room's owner is behind: the client retries (phoenix.js does)
  }
  if (refused.empty()) {
    if (Channel* old = c.find_channel(m.topic)) {
      // A second join of a joined topic replaces the first (Phoenix: phx_close for the old ref).
      replies_.send_channel_close(c, *old);
      end_channel(c, old);
    }
    if (c.channels.size() >= config_.max_rooms_per_conn) refused = "too many channels joined";
  }
  if (!refused.empty()) {
    metrics_.joins_rejected.add();
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, refused);
  }
  Channel ch;
  ch.names = ChannelNames(m.topic, m.join_ref, m.ref);
  ch.join_id = ++c.last_join_id;
  JoinRoom j;
  j.room = std::move(room);
  j.conn = c.ref;
  j.join_id = ch.join_id;
  j.join_ref = m.join_ref;
  j.user_id = c.claims.sub();
  j.user_name = c.claims.name();
  // Shown to every member in presence: visible characters only, at most kMaxDeviceBytes.
  if (m.device) j.device = proto::clean_display_text(*m.device, proto::kMaxDeviceBytes);
  j.format = c.format;
  j.last_seen_id = m.last_seen_id;
  c.channels.push_back(std::move(ch));
  const unsigned owner = owner_of(j.room);  // before j moves
  out_.send_to_shard(owner, std::move(j));
}

void MemberRooms::leave(Connection& c, proto::ClientMessage& m) {
  Channel* ch = c.find_channel(m.topic);
  if (!ch) {
    // Leaving a topic not joined is fine, and closes nothing.
    return replies_.send_ok(c, m.join_ref, m.ref, m.topic);
  }
  if (m.join_ref && !ch->names.same_join(m.join_ref)) return;  // stale leave
  replies_.send_ok(c, m.join_ref, m.ref, m.topic);
  replies_.send_channel_close(c, *ch);
  end_channel(c, ch);
}

void MemberRooms::leave_all(Connection& c) {
  for (auto& ch : c.channels) {
    std::string room(ch.room());
    if (ch.is_joined) remove_local_member(room, c.ref);
    const unsigned owner = owner_of(room);
    out_.send_to_shard(owner, LeaveRoom{std::move(room), c.ref, std::string(c.claims.sub())});
  }
  c.channels.clear();
  c.held_bytes = 0;
}

Channel MemberRooms::end_channel(Connection& c, Channel* ch) {
  std::string room(ch->room());
  if (ch->is_joined) remove_local_member(room, c.ref);
  const unsigned owner = owner_of(room);
  out_.send_to_shard(owner, LeaveRoom{std::move(room), c.ref, std::string(c.claims.sub())});
  return c.take_channel(ch);
}

void MemberRooms::add_local_member(const std::string& room, const ConnRef& ref) {
  local_rooms_[room].add(ref);
}

void MemberRooms::remove_local_member(const std::string& room, const ConnRef& ref) {
  auto it = local_rooms_.find(room);
  if (it == local_rooms_.end()) return;
  it->second.remove(ref);
  if (it->second.empty()) local_rooms_.erase(it);
}

size_t MemberRooms::local_members(const std::string& room) const {
  auto it = local_rooms_.find(room);
  return it == local_rooms_.end() ? 0 : it->second.size();
}

void MemberRooms::on_join_accepted(JoinAccepted&& m) {
  Connection* c = table_.lookup(m.conn);
  if (!c || c->phase != Phase::WebSocket) return;  // gone: its close already sent LeaveRoom
  std::string topic = topic_of(m.room);
  Channel* ch = c->find_channel(topic);
  // Left or re-joined meanwhile (another join id, whatever its join_ref): that path already
  // told the owner.
  if (!ch || ch->join_id != m.join_id || ch->is_joined) return;
  if (!m.refused.empty()) {
    metrics_.joins_rejected.add();
    replies_.send_error(*c, ch->names.join_ref(), ch->names.push_ref(), topic, m.refused);
    c->take_channel(ch);
    return;
  }
  ch->is_joined = true;
  add_local_member(m.room, c->ref);
  metrics_.joins.add();
  if (m.catchup_pending) {
    // Answered in on_catchup_ready, once the missed messages are loaded: recovered is true only
    // if they fit the catch-up budget, and live frames are held until then.
    ch->catchup = std::make_unique<CatchupHold>();
    ch->catchup->pending_state = std::move(m.presence_state);
    ch->catchup->pending_state_tail = std::move(m.presence_state_tail);
    return;
  }
  replies_.send_join_ok(*c, *ch, m.recovered);
  table_.queue_frame(*c, std::move(m.presence_state));
  // JSON: the state shared by the turn's joiners follows its per-joiner head.
  if (!m.presence_state_tail.empty()) table_.queue_frame(*c, std::move(m.presence_state_tail));
}

void MemberRooms::on_broadcast(RoomBroadcast&& b) {
  auto it = local_rooms_.find(b.room);
  if (it == local_rooms_.end()) return;
  std::string topic = topic_of(b.room);
  for (const ConnRef& ref : it->second.list()) {
    if (b.except && *b.except == ref) continue;
    Connection* c = table_.lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    Channel* ch = c->find_channel(topic);
    if (!ch || !ch->is_joined) continue;
    const core::SharedFrame* frame = &b.json;
    if (c->format == WireFormat::Binary) frame = &b.binary;
    if (frame->empty()) continue;  // binary member joined after the owner encoded: it recovers
    if (ch->catching_up()) {
      table_.hold_frame(*c, *ch, b.message_id, *frame);
    } else {
      table_.queue_frame(*c, *frame);
    }
    metrics_.deliveries.add();
  }
  if (b.message_id) {
    metrics_.publish_to_deliver.observe(
        static_cast<uint64_t>(core::mono_micros() - b.published_us));
  }
}

void MemberRooms::on_catchup_ready(CatchupReady&& m) {
  Connection* c = table_.lookup(m.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = topic_of(m.room);
  Channel* ch = c->find_channel(topic);
  // Only the catch-up of the channel's own join: one of a join that a rejoin replaced covers
  // another range (its last_seen_id), and taking it would end this join's hold too early.
  if (!ch || ch->join_id != m.join_id || !ch->catching_up()) return;
  if (!m.ok) {
    // The missed messages cannot be read now: the join fails (the client retries it with its
    // backoff, still from its last_seen_id).
    Channel gone = end_channel(*c, ch);
    replies_.send_error(*c, gone.names.join_ref(), gone.names.push_ref(), topic,
                        "storage unavailable");
    return;
  }
  release_held(*c, *ch, m);
}

// The catch-up is in: the join's answer, its presence state, the missed messages (when they fit)
// and then the live frames held meanwhile, in that order.
void MemberRooms::release_held(Connection& c, Channel& ch, const CatchupReady& m) {
  size_t missed_bytes = 0;
  const std::vector<core::SharedFrame>& missed =
      catchup_frames(c.format, ch.topic(), m, missed_bytes);
  // A catch-up larger than half the outbound cap would close a client that reads (4008) and
  // make it reconnect into the same catch-up: it gets recovered: false and pages history.
  const bool fits = !m.too_large && missed_bytes <= config_.outbound_cap_bytes / 2;
  replies_.send_join_ok(c, ch, m.recovering ? std::optional<bool>(fits) : m.recovered,
                        m.last_read_id, m.unread);
  std::unique_ptr<CatchupHold> hold = std::move(ch.catchup);
  table_.queue_frame(c, std::move(hold->pending_state));
  if (!hold->pending_state_tail.empty()) table_.queue_frame(c, std::move(hold->pending_state_tail));
  if (fits) {
    for (const auto& frame : missed) table_.queue_frame(c, frame);
  }
  // Live frames that arrived meanwhile: those the catch-up already covered are dropped by id.
  for (auto& h : hold->held) {
    if (h.message_id == 0 || h.message_id > m.upto_id) table_.queue_frame(c, std::move(h.frame));
  }
  c.held_bytes -= static_cast<uint32_t>(hold->held_bytes);
}

const std::vector<core::SharedFrame>& MemberRooms::catchup_frames(WireFormat format,
                                                                  std::string_view topic,
                                                                  const CatchupReady& m,
                                                                  size_t& bytes) {
  EncodedCatchup& e = last_catchup_[format == WireFormat::Binary ? 1 : 0];
  if (!e.messages.same_as(m.messages)) {
    e.messages = m.messages;
    e.frames.clear();
    e.bytes = 0;
    for (const auto& msg : m.messages) {
      e.frames.push_back(replies_.encode_new_msg(format, msg, topic));
      e.bytes += e.frames.back().size();
    }
  }
  bytes = e.bytes;
  return e.frames;
}

}  // namespace rtchat::server
