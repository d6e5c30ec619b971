// Read state across devices, the connection's side (docs/protocol.md "Read state"): a mark_read
// push goes to the room's owner (read_state_owner.cpp), its answer comes back as a reply, and the
// owner's read_state pushes reach the user's other sockets on this shard.
#include "server/shard/member_rooms.h"
#include "server/shard/session.h"

namespace rtchat::server {
namespace {}  // namespace

void Session::mark_read(Connection& c, Channel& ch, proto::ClientMessage& m) {
  if (!m.payload_valid || !m.read_id) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "invalid_payload");
  }
  const unsigned owner = owner_shard(ch.room(), config_.effective_shards());
  if (out_.backlogged(owner, OutboundPort::kOwnerBacklogLimit)) {
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "overloaded");
  }
  out_.send_to_shard(owner, MarkRead{std::string(ch.room()), c.ref, m.join_ref, m.ref,
                                     std::string(c.claims.sub()), *m.read_id});
}

void Session::on_mark_read_ack(MarkReadAck&& a) {
  Connection* c = table_.lookup(a.conn);
  if (!c || c->phase != Phase::WebSocket) return;
  std::string topic = topic_of(a.room);
  if (!a.ok) return replies_.send_error(*c, a.join_ref, a.ref, topic, a.reason);
  metrics_.read_marks.add();
  proto::Reply ok;
  ok.join_ref = std::move(a.join_ref);
  ok.ref = std::move(a.ref);
  ok.topic = std::move(topic);
  ok.body.kind = proto::ReplyBody::Kind::MarkRead;
  ok.body.last_read_id = a.last_read_id;
  replies_.send(*c, std::move(ok));
}

void MemberRooms::on_read_state_push(ReadStatePush&& p) {
  std::string topic = topic_of(p.room);
  core::SharedFrame frames[2];  // [Json, Binary], each encoded once for this shard
  for (const ConnRef& ref : p.conns) {
    Connection* c = table_.lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    Channel* ch = c->find_channel(topic);
    if (!ch || !ch->is_joined) continue;
    core::SharedFrame& frame = frames[c->format == WireFormat::Binary ? 1 : 0];
    if (frame.empty()) frame = replies_.encode_read_state(c->format, topic, p.last_read_id);
    if (ch->catching_up()) {
      table_.hold_frame(*c, *ch, 0, frame);
    } else {
      table_.queue_frame(*c, frame);
    }
  }
}

}  // namespace rtchat::server
