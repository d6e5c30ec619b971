// The owner side of the server API and of moderation (docs/protocol.md "Server API",
// "Moderation"). An API publish and a delete_msg travel the socket publish's path; here the owner
// keeps the API's Idempotency-Keys, loads the record of a room nobody is in before ordering an API
// publish into it, answers presence and room-listing queries from its records, and orders a
// delete once storage checked it (a refused delete takes no id).
#include <algorithm>

#include "core/clock.h"
#include "proto/jwt.h"
#include "server/net/server_api_json.h"
#include "server/shard/owner_rooms.h"

namespace rtchat::server {
namespace {
constexpr size_t kMaxPublishesWaitingPerRoom = 1024;  // API publishes while the room loads
}  // namespace

bool OwnerRooms::hold_api_publish(Publish& m) {
  if (!m.idempotency_key.empty()) {
    int64_t id = 0;
    switch (idempotency_.begin(m.room, m.idempotency_key, core::mono_millis(), id)) {
      case IdempotencyTable::Seen::Done:
        out_.send_to_shard(m.conn.shard,
                           PublishAck{m.room, m.conn, {}, {}, true, id, {}, true, true});
        return true;
      case IdempotencyTable::Seen::Pending:
        out_.send_to_shard(
            m.conn.shard, PublishAck{m.room, m.conn, {}, {}, false, 0, "in progress", true, false});
        return true;
      case IdempotencyTable::Seen::Full:
        out_.send_to_shard(m.conn.shard,
                           PublishAck{m.room, m.conn, {}, {}, false, 0, "overloaded", true, false});
        return true;
      case IdempotencyTable::Seen::New:
        break;
    }
  }
  // Cluster mode: Redis orders it with or without a record here (its floor is the stream's).
  if (cluster()) return false;
  OwnedRoom* room = owner_.find(m.room);
  if (room && room->loaded) return false;
  // A room not in use: its last id is read first, as for a first join.
  if (!room && out_.storage_overloaded()) {
    ack(m, false, 0, "overloaded");
    return true;
  }
  OwnedRoom& record = owner_.ensure(m.room);
  if (record.publishes_waiting.size() >= kMaxPublishesWaitingPerRoom) {
    ack(m, false, 0, "overloaded");
    return true;
  }
  if (!record.load_pending) {
    record.load_pending = true;
    out_.send_to_storage(StoreLoadRoom{m.room});
  }
  record.publishes_waiting.push_back(std::move(m));
  return true;
}

void OwnerRooms::retry_waiting_publishes(OwnedRoom& room, bool loaded) {
  std::vector<Publish> waiting = std::move(room.publishes_waiting);
  room.publishes_waiting.clear();
  for (auto& p : waiting) {
    if (loaded) {
      order_publish(std::move(p));  // its Idempotency-Key is already pending
    } else {
      ack(p, false, 0, "storage unavailable");
    }
  }
}

void OwnerRooms::on_delete_checked(StoreAppendDone&& d) {
  if (!d.ok) return ack(d.origin, false, 0, "storage unavailable");
  OwnedRoom* room = owner_.find(d.origin.room);
  if (!cluster() && room) {
    // Checked, not yet committed: a second delete of the same message checked meanwhile saw it
    // still there. The first one wins; storage answers the ones checked after its commit.
    auto& in_flight = room->deletes_in_flight;
    if (std::find(in_flight.begin(), in_flight.end(), d.origin.delete_id) != in_flight.end()) {
      return ack(d.origin, false, 0, "not_found");
    }
    in_flight.push_back(d.origin.delete_id);
  }
  d.origin.delete_checked = true;
  order_publish(std::move(d.origin));
}

void OwnerRooms::on_api_presence_query(ApiPresenceQuery&& q) {
  ApiPresenceAnswer a{q.conn, {}};
  if (const OwnedRoom* room = owner_.find(q.room)) a.entries = owner_.presence_state(*room);
  out_.send_to_shard(q.conn.shard, std::move(a));
}

void OwnerRooms::on_api_rooms_query(ApiRoomsQuery&& q) {
  ApiRoomsAnswer a{q.conn, q.query_id, {}};
  proto::JwtClaims claim;  // the rooms claim of the asking user (absent: every room)
  claim.rooms = std::move(q.allowed);
  owner_.for_each_room([&](const std::string& id, const OwnedRoom& room) {
    if (!room.has_members() && room.remote_presence.empty()) return;
    if (!id.starts_with(q.prefix) || !proto::room_allowed(claim, id)) return;
    uint32_t users = static_cast<uint32_t>(room.presence.size());
    for (const auto& [user, metas] : room.remote_presence) users += !room.presence.contains(user);
    a.rooms.emplace_back(id, users);
  });
  // Only the first limit (+1, to know has_more) of this shard can be among the first overall.
  bool ignored = false;
  keep_first_rooms(a.rooms, q.limit + 1, ignored);
  out_.send_to_shard(q.conn.shard, std::move(a));
}

}  // namespace rtchat::server
