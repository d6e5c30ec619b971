// The owner's joins, answered once per loop turn: every joiner of a room in one turn gets the
// same presence_state (the room after all of the turn's joins), encoded once per wire format
// (PresenceStateFrames). The state still reaches each joiner before any diff that follows its
// join: the turn's diffs are flushed after this, on the same owner -> member queues.
#include "server/shard/owner_rooms.h"

namespace rtchat::server {

void OwnerRooms::answer_turn_joins() {
  owner_.take_turn_joins(
      [&](const std::string& name, OwnedRoom& room, std::vector<JoinRoom>& joins) {
        // First record every join of the turn (refusals are answered at once), then encode the
        // room's state once for all of them.
        std::vector<JoinAccepted> accepted(joins.size());
        std::vector<std::optional<StoreCatchup>> catchups(joins.size());
        std::vector<size_t> recorded;
        for (size_t i = 0; i < joins.size(); ++i) {
          owner_.join(joins[i], config_.recovery_limit, accepted[i], catchups[i]);
          if (!accepted[i].refused.empty()) {
            out_.send_to_shard(joins[i].conn.shard, std::move(accepted[i]));
            continue;
          }
          recorded.push_back(i);
        }
        if (recorded.empty()) return;
        proto::PresenceEntries merged;  // cluster mode only: backs the view
        const proto::PresenceStateView state = owner_.presence_state_view(room, merged);
        PresenceStateFrames frames(topic_of(name), state);
        for (size_t i : recorded) answer_join(room, accepted[i], catchups[i], joins[i], frames);
      });
}

void OwnerRooms::answer_join(const OwnedRoom& room, JoinAccepted& accepted,
                             std::optional<StoreCatchup>& catchup, const JoinRoom& join,
                             PresenceStateFrames& frames) {
  // The storage thread drops a catch-up heavier than half the outbound cap (too_large): the
  // client then pages history itself.
  if (catchup) catchup->max_bytes = config_.outbound_cap_bytes / 2;
  if (catchup && out_.storage_overloaded()) {
    // Storage is behind: the client learns it must page history itself instead of the server
    // queueing one more read without bound.
    catchup.reset();
    accepted.recovered = false;
    accepted.catchup_pending = false;
  }
  load_read_state_with_join(join, room, accepted, catchup);
  auto f = frames.for_join(join.format == WireFormat::Binary, join.join_ref);
  accepted.presence_state = std::move(f.head);
  accepted.presence_state_tail = std::move(f.tail);
  out_.send_to_shard(join.conn.shard, std::move(accepted));
  if (catchup) out_.send_to_storage(std::move(*catchup));
}

}  // namespace rtchat::server
