#include "server/shard/room_owner.h"

#include <algorithm>
#include <charconv>
#include <functional>

#include "core/clock.h"

namespace rtchat::server {

RoomOwner::RoomOwner(unsigned shard, unsigned shards) : shard_(shard), shards_(shards) {}

OwnedRoom* RoomOwner::find(std::string_view room) {
  auto it = rooms_.find(std::string(room));
  return it == rooms_.end() ? nullptr : &it->second;
}

void RoomOwner::mark_dirty(const std::string& room_key, OwnedRoom& room) {
  if (!room.diff_pending) {
    room.diff_pending = true;
    const int64_t now_ms = core::mono_millis();
    room.diff_due_ms =
        pacing_.due_ms(room.last_diff_ms, now_ms, room.member_count(), storm_.storming(now_ms));
    dirty_.push_back(&room_key);
  }
}

void RoomOwner::queue_turn_join(OwnedRoom& room, JoinRoom&& join) {
  if (room.joins_this_turn.empty()) {
    auto it = rooms_.find(join.room);
    if (it == rooms_.end()) return;  // not expected: the caller holds the record
    joining_.push_back(&it->first);
  }
  room.joins_this_turn.push_back(std::move(join));
}

void RoomOwner::cancel_turn_join(OwnedRoom& room, const ConnRef& conn) {
  room.joins_this_turn.cancel(conn);
}

OwnedRoom& RoomOwner::ensure(const std::string& room_id) {
  auto [it, created] = rooms_.try_emplace(room_id);
  OwnedRoom& room = it->second;
  if (created) room.members_per_shard.assign(shards_, 0);
  return room;
}

void RoomOwner::apply_loaded(OwnedRoom& room, int64_t last_id) {
  room.loaded = true;
  if (room.cluster_baseline) return;  // Redis's last id already set the order
  room.last_assigned_id = std::max(room.last_assigned_id, last_id);
  room.last_committed_id = std::max(room.last_committed_id, last_id);
}

bool RoomOwner::is_unused(const OwnedRoom& room) {
  return !room.has_members() && room.joins_waiting.empty() && room.joins_this_turn.empty() &&
         room.publishes_waiting.empty() && room.appends_in_flight == 0 && !room.load_pending &&
         !room.diff_pending && !room.cluster_watched && room.remote_presence.empty() &&
         !room.remote_diff_pending;
}

bool RoomOwner::drop_if_unused(const std::string& room_id) {
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return true;
  if (!is_unused(it->second)) return false;
  // The dirty lists point at map keys: no pointer may outlive the key (clear_remote leaves one).
  const std::string* key = &it->first;
  std::erase(dirty_, key);
  std::erase(remote_dirty_, key);
  std::erase(joining_, key);
  rooms_.erase(it);
  return true;
}

OwnedRoom& RoomOwner::join(const JoinRoom& request, int64_t recovery_limit, JoinAccepted& accepted,
                           std::optional<StoreCatchup>& catchup) {
  ensure(request.room);
  auto it = rooms_.find(request.room);
  OwnedRoom& room = it->second;
  accepted.room = request.room;
  accepted.conn = request.conn;
  accepted.join_id = request.join_id;
  accepted.join_ref = request.join_ref;
  auto present = room.presence.find(request.user_id);
  if (present != room.presence.end() && present->second.size() >= kMaxSessionsPerUserInRoom) {
    accepted.refused = kTooManySessions;
    return room;
  }
  const int64_t now_ms = core::mono_millis();
  int64_t budget = present != room.presence.end() ? present->second.join_full_at_ms()
                                                  : room.joins_per_user.full_at(request.user_id);
  if (!room.joins_per_user.take(budget, now_ms)) {
    accepted.refused = kJoinRateLimited;
    return room;
  }
  storm_.note_join(now_ms);
  room.members_per_shard[request.conn.shard]++;
  bool binary = request.format == WireFormat::Binary;
  if (binary) room.binary_members++;

  proto::PresenceMeta meta = proto::PresenceMeta::local(shard_, ++ref_counter_, core::unix_millis(),
                                                        request.user_name, request.device);
  room.pending_joins[request.user_id].push_back(meta);
  auto [user, new_user] = room.presence.try_emplace(request.user_id);
  if (new_user) {
    room.state_cache.add_user(user->first, meta);
    (void)room.joins_per_user.take_out(request.user_id);  // the budget moves into the records
  } else {
    room.state_cache.invalidate();
  }
  user->second.set_join_full_at_ms(budget);
  user->second.push_back(PresenceRecord{std::move(meta), request.conn, binary});
  mark_dirty(it->first, room);

  if (request.last_seen_id) {
    int64_t after = *request.last_seen_id;
    int64_t upto = room.last_committed_id;
    if (upto - after > recovery_limit) {
      accepted.recovered = false;
    } else {
      accepted.recovered = true;
      if (upto > after) {
        // Everything up to upto is committed; later ids reach the member shard live, after the
        // CatchupReady that this range turns into (same owner -> member queue, FIFO).
        accepted.catchup_pending = true;
        catchup = StoreCatchup{request.room, request.conn, request.join_id,
                               after,        upto,         static_cast<int>(recovery_limit)};
      }
    }
  }
  return room;
}

bool RoomOwner::leave(const LeaveRoom& request) {
  auto it = rooms_.find(request.room);
  if (it == rooms_.end()) return false;
  OwnedRoom& room = it->second;
  // The leave names its user (the member shard knows its connection's token), so the records
  // are found by key: no per-member connection -> user index (40 bytes a member) is kept.
  auto p = room.presence.find(request.user_id);
  if (p == room.presence.end()) return false;
  auto& records = p->second;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].conn != request.conn) continue;
    if (room.members_per_shard[request.conn.shard] > 0)
      room.members_per_shard[request.conn.shard]--;
    if (records[i].binary && room.binary_members > 0) room.binary_members--;
    room.pending_leaves[p->first].push_back(std::move(records[i].meta));
    room.state_cache.invalidate();
    records.erase_at(i);
    if (records.empty()) {  // the user's join budget outlives their last socket here
      room.joins_per_user.put_back(p->first, records.join_full_at_ms(), core::mono_millis());
      room.presence.erase(p);
    }
    mark_dirty(it->first, room);
    return true;
  }
  return false;
}

void RoomOwner::mark_remote_dirty(const std::string& room_key, OwnedRoom& room) {
  if (!room.remote_diff_pending) {
    room.remote_diff_pending = true;
    remote_dirty_.push_back(&room_key);
  }
}

bool RoomOwner::remove_remote(const std::string& room_key, OwnedRoom& room, const ClusterMeta& m) {
  auto p = room.remote_presence.find(m.user_id);
  if (p == room.remote_presence.end()) return false;
  auto& metas = p->second;
  for (size_t i = 0; i < metas.size(); ++i) {
    if (!metas[i].meta.same_ref(m.meta)) continue;
    room.remote_pending_leaves[m.user_id].push_back(std::move(metas[i].meta));
    metas.erase(metas.begin() + static_cast<std::ptrdiff_t>(i));
    room.remote_metas--;
    if (metas.empty()) room.remote_presence.erase(p);
    mark_remote_dirty(room_key, room);
    return true;
  }
  return false;
}

size_t RoomOwner::apply_remote(const std::string& room_id, const std::vector<ClusterMeta>& joins,
                               const std::vector<ClusterMeta>& leaves) {
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return 0;
  OwnedRoom& room = it->second;
  for (const auto& m : leaves) remove_remote(it->first, room, m);
  size_t refused = 0;
  for (const auto& m : joins) {
    auto p = room.remote_presence.find(m.user_id);
    bool known = false;
    size_t same_node = 0;
    if (p != room.remote_presence.end()) {
      for (const auto& have : p->second) {
        known |= have.meta.same_ref(m.meta);
        same_node += have.node == m.node;
      }
    }
    if (known) continue;  // idempotent: a snapshot and a published join may carry the same meta
    if (same_node >= kMaxRemoteSessionsPerUserAndNode ||
        room.remote_metas >= kMaxRemoteMetasPerRoom) {
      ++refused;
      continue;
    }
    if (p == room.remote_presence.end()) p = room.remote_presence.try_emplace(m.user_id).first;
    p->second.push_back(m);
    room.remote_metas++;
    room.remote_pending_joins[m.user_id].push_back(m.meta);
    mark_remote_dirty(it->first, room);
  }
  remote_refused_ += refused;
  return refused;
}

namespace {
// What makes two remote metas the same one (apply_remote's idempotence): user id and phx_ref.
struct RemoteMetaKey {
  std::string_view user_id;
  std::string_view phx_ref;
  auto operator<=>(const RemoteMetaKey&) const = default;
};
}  // namespace

size_t RoomOwner::replace_remote(const std::string& room_id, std::vector<ClusterMeta> snapshot) {
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return 0;
  OwnedRoom& room = it->second;
  // The snapshot's keys, sorted once: each held meta is then found in O(log n). A scan of the
  // snapshot per held meta made a resync of a room with 10,000 remote members 10^8 comparisons
  // (about 0.2 s) on the shard thread. Remote metas keep their phx_ref as text, so the buffers
  // are only written for a meta of this process.
  std::vector<proto::PhxRefBuffer> ref_bytes(snapshot.size());
  std::vector<RemoteMetaKey> kept;
  kept.reserve(snapshot.size());
  for (size_t i = 0; i < snapshot.size(); ++i) {
    kept.push_back({snapshot[i].user_id, snapshot[i].meta.phx_ref(ref_bytes[i])});
  }
  std::sort(kept.begin(), kept.end());
  std::vector<ClusterMeta> gone;
  proto::PhxRefBuffer buf;
  for (const auto& [user, metas] : room.remote_presence) {
    for (const auto& m : metas) {
      if (!std::binary_search(kept.begin(), kept.end(), RemoteMetaKey{user, m.meta.phx_ref(buf)})) {
        gone.push_back(m);
      }
    }
  }
  return apply_remote(room_id, snapshot, gone);
}

void RoomOwner::drop_remote_node(std::string_view node) {
  for (auto& [key, room] : rooms_) {
    std::vector<ClusterMeta> gone;
    for (const auto& [user, metas] : room.remote_presence) {
      for (const auto& m : metas) {
        if (m.node == node) gone.push_back(m);
      }
    }
    for (const auto& m : gone) remove_remote(key, room, m);
  }
}

void RoomOwner::clear_remote(OwnedRoom& room) {
  room.remote_presence.clear();
  room.remote_metas = 0;
  room.remote_pending_joins.clear();
  room.remote_pending_leaves.clear();
  room.remote_diff_pending = false;
}

void RoomOwner::presence_state_view(const OwnedRoom& room, proto::PresenceEntries& merged,
                                    proto::PresenceStateView& view) const {
  view.clear();
  if (!room.remote_presence.empty()) {
    merged = presence_state(room);
    view.reserve(merged.size());
    for (const auto& [key, metas] : merged) view.push_back({key, metas});
    return;
  }
  view.reserve(room.presence.size());
  for (const auto& [user, records] : room.presence) {
    view.push_back(
        {user, proto::MetaRange(records.begin(), records.size(), &PresenceRecord::meta)});
  }
}

proto::PresenceEntries RoomOwner::presence_state(const OwnedRoom& room) const {
  if (!room.remote_presence.empty()) {
    // Cluster mode: local and remote metas under one key per user, in key order.
    std::map<std::string, std::vector<proto::PresenceMeta>, std::less<>> merged;
    for (const auto& [user, records] : room.presence) {
      for (const auto& r : records) merged[user].push_back(r.meta);
    }
    for (const auto& [user, metas] : room.remote_presence) {
      for (const auto& m : metas) merged[user].push_back(m.meta);
    }
    proto::PresenceEntries entries;
    entries.reserve(merged.size());
    for (auto& [user, metas] : merged) entries.emplace_back(user, std::move(metas));
    return entries;
  }
  proto::PresenceEntries entries;
  entries.reserve(room.presence.size());
  for (const auto& [user, records] : room.presence) {
    std::vector<proto::PresenceMeta> metas;
    metas.reserve(records.size());
    for (const auto& r : records) metas.push_back(r.meta);
    entries.emplace_back(user, std::move(metas));
  }
  return entries;
}

}  // namespace rtchat::server
