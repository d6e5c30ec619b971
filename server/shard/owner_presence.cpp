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
        // room's state once for all of them. The buffers are the shard's, reused every turn.
        if (joins.empty()) {
          // Every join queued left again this turn (JoinQueue): the room may be unused now, as
          // when a leave empties the queue at once.
          release_if_unused(name);
          return;
        }
        TurnBuffers& t = turn_;
        t.accepted.clear();
        t.accepted.resize(joins.size());
        t.catchups.clear();
        t.catchups.resize(joins.size());
        t.recorded.clear();
        for (size_t i = 0; i < joins.size(); ++i) {
          owner_.join(joins[i], config_.recovery_limit, t.accepted[i], t.catchups[i]);
          if (!t.accepted[i].refused.empty()) {
            out_.send_to_shard(joins[i].conn.shard, std::move(t.accepted[i]));
            continue;
          }
          t.recorded.push_back(i);
        }
        if (t.recorded.empty()) return;
        // The room's kept JSON state spares walking its records, unless a binary joiner needs
        // them or other nodes' metas are merged in (cluster mode).
        PresenceStateCache* cache = room.remote_presence.empty() ? &room.state_cache : nullptr;
        proto::PresenceEntries merged;  // cluster mode only: backs the view
        if (cache == nullptr || !cache->valid() || room.binary_members > 0) {
          owner_.presence_state_view(room, merged, t.view);
        }
        PresenceStateFrames frames(topic_of(name), t.view, t.scratch, cache, core::mono_millis());
        for (size_t i : t.recorded) {
          answer_join(room, t.accepted[i], t.catchups[i], joins[i], frames);
        }
      });
  turn_.release_if_large();
}

void OwnerRooms::TurnBuffers::release_if_large() {
  // A mass rejoin of a huge room grows these once; a shard does not keep megabytes for it.
  constexpr size_t kKeptScratchBytes = 256 * 1024;
  constexpr size_t kKeptJoins = 1024;
  if (scratch.capacity() > kKeptScratchBytes) std::string().swap(scratch);
  if (accepted.capacity() > kKeptJoins) {
    std::vector<JoinAccepted>().swap(accepted);
    std::vector<std::optional<StoreCatchup>>().swap(catchups);
    std::vector<size_t>().swap(recorded);
    proto::PresenceStateView().swap(view);
  }
  accepted.clear();  // moved-from answers hold nothing, but a refused one keeps its strings
  catchups.clear();
  view.clear();  // borrows the rooms' records: no pointer outlives the turn
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
