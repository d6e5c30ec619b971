// The rooms half of a shard: cross-shard messages. As owner it orders, persists (through the
// storage thread) and fans out; as member it delivers to its local connections.
#include "core/clock.h"
#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/log.h"
#include "server/net/http_response.h"
#include "server/shard/shard.h"

namespace rtchat::server {
namespace {
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string topic_of(std::string_view room) {
  std::string t = "room:";
  t += room;
  return t;
}

// Cluster mode: Publish::conn.shard values that are not shards. A delivery from the cluster
// link has no local publisher to answer; a node's durable copy of a delivered message needs no
// answer from storage either.
// Publishes waiting for room in the link's mailbox before new ones are refused with "overloaded"
// (the mailbox itself holds 16384 more): bounds memory when Redis cannot keep up.
constexpr size_t kLinkBacklogLimit = 65536;
}  // namespace

void Shard::send_to_shard(unsigned shard, ShardMessage&& message) {
  if (shard == index_) {
    self_queue_.push_back(std::move(message));
  } else {
    outboxes_[shard]->send(std::move(message));
  }
}

void Shard::send_to_storage(StorageRequest&& request) { storage_outbox_->send(std::move(request)); }

void Shard::dispatch(ShardMessage&& message) {
  std::visit(Overloaded{
                 [&](JoinRoom& m) { on_join_room(std::move(m)); },
                 [&](JoinAccepted& m) { on_join_accepted(std::move(m)); },
                 [&](LeaveRoom& m) { on_leave_room(std::move(m)); },
                 [&](Publish& m) { on_publish(std::move(m)); },
                 [&](Typing& m) { on_typing(std::move(m)); },
                 [&](RoomBroadcast& m) { on_broadcast(std::move(m)); },
                 [&](PublishAck& m) { on_publish_ack(std::move(m)); },
                 [&](CatchupReady& m) { on_catchup_ready(std::move(m)); },
                 // ---- cluster mode (docs/cluster.md), from the link: shard_cluster.cpp
                 [&](ClusterDeliver& m) { on_cluster_deliver(std::move(m)); },
                 [&](ClusterPublishDone& m) { on_cluster_publish_done(std::move(m)); },
                 [&](ClusterRoomSynced& m) { on_cluster_room_synced(std::move(m)); },
                 [&](ClusterPresenceIn& m) {
                   OwnedRoom* room = owner_.find(m.room);
                   if (!room || !room->cluster_synced) return;  // the sync snapshot covers it
                   owner_.apply_remote(m.room, m.joins, m.leaves);
                 },
                 [&](ClusterNodeDown& m) { owner_.drop_remote_node(m.node); },
                 // Shard -> link types: never sent to a shard.
                 [&](ClusterPublish&) {},
                 [&](ClusterWatch&) {},
                 [&](ClusterPresenceOut&) {},
             },
             message);
}

void Shard::dispatch_storage(StorageReply&& reply) {
  std::visit(Overloaded{
                 [&](StoreAppendDone& m) { on_append_done(std::move(m)); },
                 [&](StoreCatchupDone& m) { on_catchup_done(std::move(m)); },
                 [&](StorePageDone& m) { on_page_done(std::move(m)); },
                 [&](StoreRoomLoaded& m) { on_room_loaded(std::move(m)); },
             },
             reply);
}

// ---------------------------------------------------------------- owner side

void Shard::refuse_join(JoinRoom&& j, std::string reason) {
  JoinAccepted refused;
  refused.room = std::move(j.room);
  refused.conn = j.conn;
  refused.join_id = j.join_id;
  refused.join_ref = std::move(j.join_ref);
  refused.refused = std::move(reason);
  send_to_shard(refused.conn.shard, std::move(refused));
}

void Shard::on_join_room(JoinRoom&& m) {
  if (!owner_.find(m.room) && storage_overloaded()) {
    // A room not in use needs a read of its last id: not while storage is behind.
    return refuse_join(std::move(m), "overloaded");
  }
  OwnedRoom& record = owner_.ensure(m.room);
  if (!record.loaded && !record.load_pending) {
    // A new record: its ids continue after the store's last id, read before any join is
    // answered (a recovering join compares last_seen_id with it; a publish takes the next id).
    record.load_pending = true;
    send_to_storage(StoreLoadRoom{m.room});
  }
  const bool cluster = !config_.cluster_url.empty();
  if (cluster && !record.cluster_synced && !record.cluster_watched) {
    // The room's first member on this node: subscribe and read its baseline before the join is
    // answered, so a recovering join knows the cluster's last id (ClusterRoomSynced). Runs
    // alongside the load; the join waits for both.
    record.cluster_watched = true;
    send_to_shard(config_.effective_shards(), ClusterWatch{m.room, true});
  }
  if (!record.loaded || (cluster && !record.cluster_synced)) {
    record.joins_waiting.push_back(std::move(m));
    return;
  }
  owner_.queue_turn_join(record, std::move(m));  // answered at the end of the turn
}

void Shard::on_leave_room(LeaveRoom&& m) {
  owner_.leave(m);
  OwnedRoom* room = owner_.find(m.room);
  if (!room) return;
  std::erase_if(room->joins_waiting, [&](const JoinRoom& j) { return j.conn == m.conn; });
  RoomOwner::cancel_turn_join(*room, m.conn);
  release_if_unused(m.room);
}

// No member and no join waiting: stop watching the room in the cluster, and drop its record at the
// end of the turn once nothing else refers to it.
void Shard::release_if_unused(const std::string& name) {
  OwnedRoom* room = owner_.find(name);
  if (!room || room->has_members() || !room->joins_waiting.empty() ||
      !room->joins_this_turn.empty()) {
    return;
  }
  if (room->cluster_watched) {
    // The last member here left: stop receiving the room (its leave is still published).
    room->cluster_watched = false;
    room->cluster_synced = false;
    owner_.clear_remote(*room);
    send_to_shard(config_.effective_shards(), ClusterWatch{name, false});
  }
  maybe_unused_.push_back(name);
}

void Shard::on_room_loaded(StoreRoomLoaded&& d) {
  OwnedRoom* room = owner_.find(d.room);
  if (!room) return;  // not expected: a record is never dropped while its load is in flight
  room->load_pending = false;
  if (!d.ok) {
    // The next id is unknown: the joins waiting get an error (the client may retry), and the
    // record goes, so a later join asks the store again.
    std::vector<JoinRoom> waiting = std::move(room->joins_waiting);
    room->joins_waiting.clear();
    for (auto& j : waiting) refuse_join(std::move(j), "storage unavailable");
    release_if_unused(d.room);
    return;
  }
  RoomOwner::apply_loaded(*room, d.last_id);
  retry_waiting_joins(d.room);
  maybe_unused_.push_back(std::move(d.room));  // every join that waited may have left meanwhile
}

void Shard::retry_waiting_joins(const std::string& name) {
  OwnedRoom* room = owner_.find(name);
  if (!room) return;
  // In arrival order; a join still not ready (cluster sync pending) waits again.
  std::vector<JoinRoom> waiting = std::move(room->joins_waiting);
  room->joins_waiting.clear();
  for (auto& j : waiting) on_join_room(std::move(j));
}

void Shard::drop_unused_rooms() {
  for (const auto& name : maybe_unused_) owner_.drop_if_unused(name);
  maybe_unused_.clear();
}

void Shard::on_publish(Publish&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room) {
    send_to_shard(m.conn.shard,
                  PublishAck{m.room, m.conn, m.join_ref, m.ref, false, 0, "not joined"});
    return;
  }
  if (!config_.cluster_url.empty()) {
    const unsigned link = config_.effective_shards();
    if (outboxes_[link]->overloaded(kLinkBacklogLimit)) {  // Redis slower than the publishers
      send_to_shard(m.conn.shard,
                    PublishAck{m.room, m.conn, m.join_ref, m.ref, false, 0, "overloaded"});
      return;
    }
    // Redis orders it; the link delivers it back (ClusterDeliver) before its ok.
    proto::ChatMessage msg{
        0, m.room, m.user_id, m.user_name, std::move(m.body), core::unix_millis()};
    int64_t floor = room->last_committed_id;
    send_to_shard(config_.effective_shards(), ClusterPublish{std::move(msg), std::move(m), floor});
    return;
  }
  if (storage_overloaded()) {  // a slow disk: refuse rather than queue without bound
    send_to_shard(m.conn.shard,
                  PublishAck{m.room, m.conn, m.join_ref, m.ref, false, 0, "overloaded"});
    return;
  }
  proto::ChatMessage msg{
      ++room->last_assigned_id, m.room, m.user_id, m.user_name, std::move(m.body),
      core::unix_millis()};
  // Fan-out waits for the commit: nobody sees a message that history does not have. The room's
  // record stays until the answer is back (the answer needs it; a re-created record would read
  // a last id that misses this append).
  room->appends_in_flight++;
  send_to_storage(StoreAppend{std::move(msg), std::move(m)});
}

void Shard::on_append_done(StoreAppendDone&& d) {
  OwnedRoom* room = owner_.find(d.message.room);
  const Publish& origin = d.origin;
  if (room && room->appends_in_flight > 0) {
    if (--room->appends_in_flight == 0) maybe_unused_.push_back(d.message.room);
  }
  if (!room) {
    // Not expected: a record with appends in flight is never dropped. Answer what storage said.
    LOG_ERROR("append_done_unknown_room", "room=%s id=%lld", d.message.room.c_str(),
              static_cast<long long>(d.message.id));
  }
  if (!d.ok || !room) {
    send_to_shard(origin.conn.shard,
                  PublishAck{origin.room, origin.conn, origin.join_ref, origin.ref, d.ok,
                             d.ok ? d.message.id : 0, d.ok ? "" : "storage unavailable"});
    return;
  }
  deliver_committed(*room, d.message);
  // Same queue as the broadcast to the sender's shard, after it: the sender sees its message
  // before the ok reply, as Phoenix does.
  send_to_shard(
      origin.conn.shard,
      PublishAck{origin.room, origin.conn, origin.join_ref, origin.ref, true, d.message.id, {}});
}

void Shard::deliver_committed(OwnedRoom& room, const proto::ChatMessage& message) {
  room.last_committed_id = std::max(room.last_committed_id, message.id);
  std::string topic = topic_of(message.room);
  RoomBroadcast b;
  b.room = message.room;
  b.message_id = message.id;
  b.published_us = core::mono_micros();
  encode_broadcast(
      b, room, [&](std::string& o) { proto::phoenix::encode_new_msg(topic, message, o); },
      [&](std::string& o) { proto::binary::encode_new_msg(topic, message, o); });
  broadcast_to_members(room, std::move(b));
}

void Shard::on_typing(Typing&& m) {
  OwnedRoom* room = owner_.find(m.room);
  if (!room) return;
  if (!config_.cluster_url.empty() && m.conn.shard != kRemoteNodeShard) {
    send_to_shard(config_.effective_shards(), Typing(m));  // to the room's members on other nodes
  }
  std::string topic = topic_of(m.room);
  RoomBroadcast b;
  b.room = m.room;
  b.except = m.conn;
  encode_broadcast(
      b, *room,
      [&](std::string& o) { proto::phoenix::encode_typing(topic, m.user_id, m.user_name, o); },
      [&](std::string& o) { proto::binary::encode_typing(topic, m.user_id, m.user_name, o); });
  broadcast_to_members(*room, std::move(b));
}

void Shard::on_catchup_done(StoreCatchupDone&& d) {
  unsigned member = d.request.conn.shard;
  send_to_shard(member, CatchupReady{std::move(d.request.room), d.request.conn, d.request.join_id,
                                     d.ok, d.request.upto_id, std::move(d.messages), d.too_large});
}

void Shard::broadcast_to_members(OwnedRoom& owned, RoomBroadcast&& b) {
  int last = -1;
  for (size_t s = 0; s < owned.members_per_shard.size(); ++s) {
    if (owned.members_per_shard[s]) last = static_cast<int>(s);
  }
  // One enqueue per member shard (not per member); the frames are shared, not copied.
  for (int s = 0; s <= last; ++s) {
    if (!owned.members_per_shard[static_cast<size_t>(s)]) continue;
    if (s == last) {
      send_to_shard(static_cast<unsigned>(s), std::move(b));
    } else {
      send_to_shard(static_cast<unsigned>(s), RoomBroadcast(b));
    }
  }
}

void Shard::broadcast_presence_diff(const std::string& room, OwnedRoom& owned,
                                    const proto::PresenceDiff& diff) {
  std::string topic = topic_of(room);
  RoomBroadcast b;
  b.room = room;
  encode_broadcast(
      b, owned, [&](std::string& o) { proto::phoenix::encode_presence_diff(topic, diff, o); },
      [&](std::string& o) { proto::binary::encode_presence_diff(topic, diff, o); });
  metrics_.presence_diffs.add();
  broadcast_to_members(owned, std::move(b));
}

void Shard::flush_presence_diffs() {
  const bool cluster = !config_.cluster_url.empty();
  owner_.take_pending_diffs(core::mono_millis(), [&](const std::string& room, OwnedRoom& owned,
                                                     proto::PresenceDiff& diff) {
    if (cluster) {
      // This node's changes go to the other nodes too (remote ones never come back here).
      ClusterPresenceOut out{room, {}, {}};
      for (const auto& [user, metas] : diff.joins) {
        for (const auto& meta : metas) out.joins.push_back(ClusterMeta{{}, user, meta});
      }
      for (const auto& [user, metas] : diff.leaves) {
        for (const auto& meta : metas) out.leaves.push_back(ClusterMeta{{}, user, meta});
      }
      send_to_shard(config_.effective_shards(), std::move(out));
    }
    broadcast_presence_diff(room, owned, diff);
    // A paced diff may be the last thing a room without members waited for.
    if (!owned.has_members()) maybe_unused_.push_back(room);
  });
  if (cluster) {
    // Other nodes' changes: to this node's members only.
    owner_.take_remote_diffs(
        [&](const std::string& room, OwnedRoom& owned, proto::PresenceDiff& diff) {
          if (!owned.has_members()) return;
          broadcast_presence_diff(room, owned, diff);
        });
  }
  // Last: a room whose last member left this turn has just sent its leave diff.
  drop_unused_rooms();
}

// ---------------------------------------------------------------- member side

void Shard::add_local_member(const std::string& room, const ConnRef& ref) {
  local_rooms_[room].push_back(ref);
}

void Shard::remove_local_member(const std::string& room, const ConnRef& ref) {
  auto it = local_rooms_.find(room);
  if (it == local_rooms_.end()) return;
  auto& members = it->second;
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] == ref) {
      members[i] = members.back();
      members.pop_back();
      break;
    }
  }
  if (members.empty()) local_rooms_.erase(it);
}

void Shard::on_join_accepted(JoinAccepted&& m) {
  Connection* c = lookup(m.conn);
  if (!c || c->phase != Phase::WebSocket) return;  // gone: its close already sent LeaveRoom
  std::string topic = topic_of(m.room);
  Channel* ch = c->find_channel(topic);
  // Left or re-joined meanwhile (another join id, whatever its join_ref): that path already
  // told the owner.
  if (!ch || ch->join_id != m.join_id || ch->is_joined) return;
  if (!m.refused.empty()) {
    metrics_.joins_rejected.add();
    send_error_reply(*c, ch->join_ref, ch->join_push_ref, topic, m.refused);
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
  send_join_ok(*c, *ch, m.recovered);
  queue_frame(*c, std::move(m.presence_state));
  if (!m.presence_state_tail.empty()) queue_frame(*c, std::move(m.presence_state_tail));
}

void Shard::send_join_ok(Connection& c, const Channel& ch, std::optional<bool> recovered) {
  proto::Reply ok;
  ok.join_ref = ch.join_ref;
  ok.ref = ch.join_push_ref;  // phoenix.js sends ref == join_ref; echo what the client sent
  ok.topic = ch.topic;
  if (recovered) {
    ok.body.kind = proto::ReplyBody::Kind::Join;
    ok.body.recovered = recovered;
  }
  send_reply(c, std::move(ok));
}

void Shard::on_broadcast(RoomBroadcast&& b) {
  auto it = local_rooms_.find(b.room);
  if (it == local_rooms_.end()) return;
  std::string topic = topic_of(b.room);
  for (const ConnRef& ref : it->second) {
    if (b.except && *b.except == ref) continue;
    Connection* c = lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    Channel* ch = c->find_channel(topic);
    if (!ch || !ch->is_joined) continue;
    const core::SharedFrame* frame = &b.json;
    if (c->format == WireFormat::Binary) frame = &b.binary;
    if (frame->empty()) continue;  // binary member joined after the owner encoded: it recovers
    if (ch->catching_up()) {
      hold_frame(*c, *ch, b.message_id, *frame);
    } else {
      queue_frame(*c, *frame);
    }
    metrics_.deliveries.add();
  }
  if (b.message_id) {
    metrics_.publish_to_deliver.observe(
        static_cast<uint64_t>(core::mono_micros() - b.published_us));
  }
}

void Shard::hold_frame(Connection& c, Channel& ch, int64_t message_id,
                       const core::SharedFrame& frame) {
  if (c.is_too_slow) return;
  ch.catchup->held.push_back(HeldFrame{message_id, frame});
  ch.catchup->held_bytes += frame.size();
  c.held_bytes += frame.size();
  // Held frames are output waiting for the catch-up: they count against the same cap, so a
  // slow catch-up in a busy room cannot grow the held list without bound.
  if (c.held_bytes + c.out.bytes() > config_.outbound_cap_bytes) {
    c.is_too_slow = true;
    too_slow_.push_back(c.ref);
  }
}

void Shard::on_publish_ack(PublishAck&& a) {
  Connection* c = lookup(a.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = topic_of(a.room);
  if (!a.ok) {
    metrics_.publish_errors.add();
    send_error_reply(*c, a.join_ref, a.ref, topic, a.reason);
    return;
  }
  metrics_.messages_published.add();
  proto::Reply ok;
  ok.join_ref = std::move(a.join_ref);
  ok.ref = std::move(a.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::Publish;
  ok.body.id = a.id;
  send_reply(*c, std::move(ok));
}

void Shard::on_catchup_ready(CatchupReady&& m) {
  Connection* c = lookup(m.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = topic_of(m.room);
  Channel* ch = c->find_channel(topic);
  // Only the catch-up of the channel's own join: one of a join that a rejoin replaced covers
  // another range (its last_seen_id), and taking it would end this join's hold too early.
  if (!ch || ch->join_id != m.join_id || !ch->catching_up()) return;
  if (!m.ok) {
    // The missed messages cannot be read now: the join fails (the client retries it with its
    // backoff, still from its last_seen_id).
    Channel gone = c->take_channel(ch);
    std::string room(gone.room());
    remove_local_member(room, c->ref);
    const unsigned owner = owner_shard(room, config_.effective_shards());
    send_to_shard(owner, LeaveRoom{std::move(room), c->ref});
    send_error_reply(*c, gone.join_ref, gone.join_push_ref, topic, "storage unavailable");
    return;
  }
  std::vector<core::SharedFrame> missed;
  size_t missed_bytes = 0;
  for (const auto& msg : m.messages) {
    missed.push_back(encode_for(c->format, msg, topic));
    missed_bytes += missed.back().size();
  }
  // A catch-up larger than half the outbound cap would close a client that reads (4008) and
  // make it reconnect into the same catch-up: it gets recovered: false and pages history.
  const bool fits = !m.too_large && missed_bytes <= config_.outbound_cap_bytes / 2;
  send_join_ok(*c, *ch, fits);
  std::unique_ptr<CatchupHold> hold = std::move(ch->catchup);
  queue_frame(*c, std::move(hold->pending_state));
  if (!hold->pending_state_tail.empty()) queue_frame(*c, std::move(hold->pending_state_tail));
  if (fits) {
    for (auto& frame : missed) queue_frame(*c, std::move(frame));
  }
  // Live frames that arrived meanwhile: those the catch-up already covered are dropped by id.
  for (auto& h : hold->held) {
    if (h.message_id == 0 || h.message_id > m.upto_id) queue_frame(*c, std::move(h.frame));
  }
  c->held_bytes -= hold->held_bytes;
}

void Shard::on_page_done(StorePageDone&& d) {
  Connection* c = lookup(d.request.conn);
  if (!c) return;
  if (d.request.http) {
    if (c->phase != Phase::Http) return;
    if (!d.ok) {
      respond(*c, http_response(503, "application/json", "{\"error\":\"storage unavailable\"}"));
    } else if (!d.room_exists) {
      respond(*c, http_response(404, "application/json", "{\"error\":\"unknown room\"}"));
    } else {
      std::string body;
      proto::phoenix::encode_history_json(d.messages, d.has_more, body);
      respond(*c, http_response(200, "application/json", body));
    }
    return;
  }
  if (c->phase != Phase::WebSocket) return;
  c->history_pending = false;
  std::string topic = topic_of(d.request.room);
  if (!d.ok) {
    send_error_reply(*c, d.request.join_ref, d.request.ref, topic, "storage unavailable");
    return;
  }
  proto::Reply ok;
  ok.join_ref = std::move(d.request.join_ref);
  ok.ref = std::move(d.request.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::History;
  ok.body.messages = std::move(d.messages);
  ok.body.has_more = d.has_more;
  send_reply(*c, std::move(ok));
}

}  // namespace rtchat::server
