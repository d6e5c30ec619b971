// Moderation, shard side (docs/protocol.md "Moderation"): delete_msg travels the publish path.
// The member shard sends it to the room's owner with the sender's right; the owner has storage
// check it (the target exists, is not deleted, and is the sender's unless the sender may
// moderate), then orders it like a message (the next id: a delete event), so a refused delete
// takes no id; the commit tombstones the target and msg_deleted is broadcast after it.
#include <algorithm>

#include "core/clock.h"
#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/shard/shard.h"

namespace rtchat::server {
namespace {
constexpr size_t kOwnerBacklog = 65536;  // as a socket publish: "overloaded" past this backlog
}  // namespace

void Shard::handle_delete_msg(Connection& c, Channel& ch, proto::ClientMessage& m) {
  if (!m.payload_valid || m.message_id < 1) {
    return send_error_reply(c, m.join_ref, m.ref, m.topic, "invalid_payload");
  }
  const unsigned owner = owner_shard(ch.room, config_.effective_shards());
  if (owner != index_ && outboxes_[owner]->overloaded(kOwnerBacklog)) {
    return send_error_reply(c, m.join_ref, m.ref, m.topic, "overloaded");
  }
  Publish p{ch.room,      c.ref,         m.join_ref, m.ref,
            c.claims.sub, c.claims.name, {},         core::mono_micros()};
  p.delete_id = m.message_id;
  p.may_moderate = may_moderate(c.claims, ch.room);
  send_to_shard(owner, std::move(p));
}

core::SharedFrame Shard::encode_for(WireFormat format, const proto::ChatMessage& msg,
                                    std::string_view topic) {
  if (msg.delete_target != 0) {
    return encode_frame(
        format, [&](std::string& o) { proto::phoenix::encode_msg_deleted(topic, msg, o); },
        [&](std::string& o) { proto::binary::encode_msg_deleted(topic, msg, o); });
  }
  return encode_frame(
      format, [&](std::string& o) { proto::phoenix::encode_new_msg(topic, msg, o); },
      [&](std::string& o) { proto::binary::encode_new_msg(topic, msg, o); });
}

void Shard::on_delete_checked(StoreAppendDone&& d) {
  if (!d.ok) return ack_publish(d.origin, false, 0, "storage unavailable");
  OwnedRoom* room = owner_.find(d.origin.room);
  const bool cluster = !config_.cluster_url.empty();
  if (!cluster && room) {
    // Checked, not yet committed: a second delete of the same message checked meanwhile saw it
    // still there. The first one wins; storage answers the ones checked after its commit.
    auto& in_flight = room->deletes_in_flight;
    if (std::find(in_flight.begin(), in_flight.end(), d.origin.delete_id) != in_flight.end()) {
      return ack_publish(d.origin, false, 0, "not_found");
    }
    in_flight.push_back(d.origin.delete_id);
  }
  d.origin.delete_checked = true;
  order_publish(std::move(d.origin));
}

}  // namespace rtchat::server
