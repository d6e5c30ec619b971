// The owner shard's view of the rooms it owns (owner = hash(room) mod shards): the message order
// (ids), which shards have members, and presence. Shard-local: only the owner touches it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "proto/messages.h"
#include "server/messages/shard_message.h"
#include "server/messages/storage_messages.h"
#include "server/shard/join_limits.h"
#include "server/shard/join_queue.h"
#include "server/shard/presence_pacing.h"
#include "server/shard/presence_state_cache.h"

namespace rtchat::server {

// Sessions (presence metas, one per joined socket) of one user in one room, on this node. A person
// has a few devices and tabs; every meta is sent to every member on each join and leave, so one
// token's 32 sockets (--max-conns-per-user) must not all sit in one room. The next join is
// refused with kTooManySessions.
inline constexpr size_t kMaxSessionsPerUserInRoom = 8;
inline constexpr std::string_view kTooManySessions = "too many sessions in room";
// Other nodes' metas one room holds (cluster mode). Peers are this cluster's own servers, each
// holding its users to kMaxSessionsPerUserInRoom per room; a node restarted under the same
// --node-id may overlap its old process's metas for a moment, so an honest peer stays within
// twice that per user and node. These bound what a faulty or rogue one (anything that can
// publish on the cluster's Redis) makes an owner hold: about 150 bytes a meta, 15 MB a room at
// most. Metas past either bound are dropped (counted; RoomOwner::remote_metas_refused).
inline constexpr size_t kMaxRemoteSessionsPerUserAndNode = 2 * kMaxSessionsPerUserInRoom;
inline constexpr uint32_t kMaxRemoteMetasPerRoom = 100'000;
inline constexpr std::string_view kJoinRateLimited = "rate_limited";

struct PresenceRecord {
  proto::PresenceMeta meta;
  ConnRef conn;
  bool binary = false;
};
static_assert(sizeof(PresenceRecord) <= 64);

// One user's records in one room, one per joined socket, in join order: the first inline in the
// room's map node (most users have one socket in a room), a heap array only from a second on.
// Every idle joined socket holds one, so it is 72 bytes: the map node is one 144-byte block,
// where a std::vector beside the node took 96 + 80. (boost::container::small_vector<.., 1> would
// be 88: its pointer, size and capacity sit beside the inline element, not over it.) At most
// kMaxSessionsPerUserInRoom records, so one byte holds the size and the capacity; the user's
// join budget in this room (join_limits.h) fills the rest, so a join storm makes no budget
// entry per user in the room's table (2 MB of 64-byte blocks per 30,000 joins, freed a second
// later between the records that stay: holes).
class UserRecords {
 public:
  UserRecords() {}  // NOLINT(modernize-use-equals-default): the union has no default member
  UserRecords(const UserRecords&) = delete;
  UserRecords& operator=(const UserRecords&) = delete;
  ~UserRecords() {
    std::destroy_n(begin(), size_);
    if (cap_ > 1) std::allocator<PresenceRecord>().deallocate(s_.many, cap_);
  }

  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  PresenceRecord* begin() { return cap_ > 1 ? s_.many : &s_.one; }
  PresenceRecord* end() { return begin() + size_; }
  [[nodiscard]] const PresenceRecord* begin() const { return cap_ > 1 ? s_.many : &s_.one; }
  [[nodiscard]] const PresenceRecord* end() const { return begin() + size_; }
  PresenceRecord& operator[](size_t i) { return begin()[i]; }
  const PresenceRecord& operator[](size_t i) const { return begin()[i]; }

  // When the user's join budget in the room is full again (KeyedRateLimit's full_at; 0: full).
  // A monotonic millisecond time: 48 bits hold 8,900 years.
  [[nodiscard]] int64_t join_full_at_ms() const {
    return static_cast<int64_t>(uint64_t{full_at_hi_} << 32 | full_at_lo_);
  }
  void set_join_full_at_ms(int64_t ms) {
    const auto v = static_cast<uint64_t>(std::clamp<int64_t>(ms, 0, (int64_t{1} << 48) - 1));
    full_at_hi_ = static_cast<uint16_t>(v >> 32);
    full_at_lo_ = static_cast<uint32_t>(v);
  }

  void push_back(PresenceRecord&& r) {
    if (size_ == cap_) grow(static_cast<uint8_t>(cap_ * 2));
    std::construct_at(begin() + size_, std::move(r));
    ++size_;
  }
  // Removes record i, keeping the others' order. Back to inline when one is left.
  void erase_at(size_t i) {
    PresenceRecord* p = begin();
    std::move(p + i + 1, p + size_, p + i);
    std::destroy_at(p + --size_);
    if (size_ == 1 && cap_ > 1) {
      PresenceRecord* many = s_.many;
      std::construct_at(&s_.one, std::move(many[0]));
      std::destroy_at(many);
      std::allocator<PresenceRecord>().deallocate(many, cap_);
      cap_ = 1;
    }
  }

 private:
  void grow(uint8_t cap) {
    PresenceRecord* many = std::allocator<PresenceRecord>().allocate(cap);
    std::uninitialized_move_n(begin(), size_, many);
    std::destroy_n(begin(), size_);
    if (cap_ > 1) std::allocator<PresenceRecord>().deallocate(s_.many, cap_);
    s_.many = many;
    cap_ = cap;
  }

  union Storage {
    Storage() {}           // NOLINT(modernize-use-equals-default)
    ~Storage() {}          // NOLINT(modernize-use-equals-default): UserRecords ends the live member
    PresenceRecord one;    // cap_ == 1: the record, constructed while size_ == 1
    PresenceRecord* many;  // cap_ > 1: size_ records in a block of cap_
  } s_;
  uint8_t size_ = 0;
  uint8_t cap_ = 1;
  uint16_t full_at_hi_ = 0;  // join_full_at_ms, in the bytes the union's alignment leaves
  uint32_t full_at_lo_ = 0;
};
static_assert(sizeof(UserRecords) <= 72);

// A room's record lives while it is in use (RoomOwner::is_unused says when it is not) and is
// dropped after, so memory follows the rooms in use, not every room ever joined. A new record
// starts unloaded: its joins wait until the storage thread answered with the room's last id.
struct OwnedRoom {
  int64_t last_assigned_id = 0;    // last id handed out (persisting or persisted)
  int64_t last_committed_id = 0;   // last id committed and broadcast
  bool loaded = false;             // the store's last id is in (ids continue after it)
  bool load_pending = false;       // StoreLoadRoom sent, StoreRoomLoaded not back yet
  uint32_t appends_in_flight = 0;  // StoreAppend sent, StoreAppendDone not back yet
  std::vector<uint32_t> members_per_shard;
  uint32_t binary_members = 0;
  // user id -> one record per connection. std::map: presence_state is encoded in key order.
  std::map<std::string, UserRecords, std::less<>> presence;
  // Presence changes since the last flush (one presence_diff per room per loop turn).
  std::map<std::string, std::vector<proto::PresenceMeta>, std::less<>> pending_joins;
  std::map<std::string, std::vector<proto::PresenceMeta>, std::less<>> pending_leaves;
  bool diff_pending = false;
  // The JSON presence_state between turns while joins only add users (local metas only).
  PresenceStateCache state_cache;
  int64_t diff_due_ms = 0;   // the pending diff goes out at the first flush at or after this
  int64_t last_diff_ms = 0;  // when the last diff went out (0: never)
  // Joins ready to be answered at the end of this loop turn, all with one presence_state.
  JoinQueue joins_this_turn;
  // Joins per user (server/shard/join_limits.h): reconnecting brings no fresh budget. A user
  // with a socket here keeps the budget in their records (UserRecords); this table holds the
  // budgets of users who left, until they are full again.
  KeyedRateLimit joins_per_user{kUserJoinBurst, kUserJoinEveryMs};

  // ---- cluster mode only (--cluster; docs/cluster.md)
  bool cluster_watched = false;   // the link was told to subscribe the room
  bool cluster_synced = false;    // the link answered (baseline known, or degraded)
  bool cluster_baseline = false;  // an ok sync set the ids: Redis's order, not the store's
  // Joins that arrived before the room was ready (loaded; in cluster mode also synced).
  JoinQueue joins_waiting;
  // Server API publishes to a room not in use, waiting for its last id (bounded by the shard).
  std::vector<Publish> publishes_waiting;
  // delete_msg targets checked and being committed: a second delete of one of them is not_found.
  std::vector<int64_t> deletes_in_flight;
  // user id -> metas of connections on other nodes (each carries its node id).
  std::map<std::string, std::vector<ClusterMeta>, std::less<>> remote_presence;
  uint32_t remote_metas = 0;  // metas in remote_presence (at most kMaxRemoteMetasPerRoom)
  std::map<std::string, std::vector<proto::PresenceMeta>, std::less<>> remote_pending_joins;
  std::map<std::string, std::vector<proto::PresenceMeta>, std::less<>> remote_pending_leaves;
  bool remote_diff_pending = false;

  [[nodiscard]] bool has_members() const {
    for (uint32_t n : members_per_shard) {
      if (n) return true;
    }
    return false;
  }
  [[nodiscard]] uint64_t member_count() const {
    uint64_t n = 0;
    for (uint32_t m : members_per_shard) n += m;
    return n;
  }
};

class RoomOwner {
 public:
  RoomOwner(unsigned shard, unsigned shards);

  // Records a join; fills accepted (without the encoded presence frame) and returns the room.
  // When the join recovers from last_seen_id, catchup is set to the range to load. A user already
  // at kMaxSessionsPerUserInRoom, or over the room's joins_per_user budget, gets accepted.refused
  // set (kTooManySessions, kJoinRateLimited) and nothing is recorded.
  OwnedRoom& join(const JoinRoom& request, int64_t recovery_limit, JoinAccepted& accepted,
                  std::optional<StoreCatchup>& catchup);
  // Removes the connection's meta. False when it was not a member.
  bool leave(const LeaveRoom& request);
  // The room's record, or nullptr when it has none: never created (ensure, on a first join) or
  // dropped (drop_if_unused, at the end of a turn). A record found may be unused (is_unused)
  // until that drop, so callers check what they need (members, cluster_synced, ...).
  OwnedRoom* find(std::string_view room);
  [[nodiscard]] proto::PresenceEntries presence_state(const OwnedRoom& room) const;
  // The same state borrowed from the room's records (no string copied), valid until the room's
  // presence changes. Cluster mode merges other nodes' metas into `merged`, which backs the view.
  [[nodiscard]] proto::PresenceStateView presence_state_view(const OwnedRoom& room,
                                                             proto::PresenceEntries& merged) const {
    proto::PresenceStateView view;
    presence_state_view(room, merged, view);
    return view;
  }
  // The same into view (cleared first), so a caller can keep its capacity.
  void presence_state_view(const OwnedRoom& room, proto::PresenceEntries& merged,
                           proto::PresenceStateView& view) const;
  // How often a room's diffs may go out (server/shard/presence_pacing.h).
  void set_pacing(PresencePacing pacing) {
    pacing_ = pacing;
    storm_ = JoinStormMeter(pacing.storm_joins_per_s);
  }
  [[nodiscard]] bool join_storm(int64_t now_ms) const { return storm_.storming(now_ms); }
  // Rooms whose presence changed and whose diff is due at now_ms (every changed room without
  // now_ms); clears their pending diffs into the diff given to fn. Rooms not yet due stay.
  template <typename Fn>
  void take_pending_diffs(Fn&& fn) {
    take_pending_diffs(INT64_MAX, std::forward<Fn>(fn));
  }
  template <typename Fn>
  void take_pending_diffs(int64_t now_ms, Fn&& fn) {
    std::vector<const std::string*>& waiting = dirty_spare_;  // kept across turns: no malloc
    waiting.clear();
    next_diff_due_ms_ = INT64_MAX;
    for (auto* name : dirty_) {
      auto it = rooms_.find(*name);
      if (it == rooms_.end() || !it->second.diff_pending) continue;
      if (it->second.diff_due_ms > now_ms) {
        waiting.push_back(name);
        next_diff_due_ms_ = std::min(next_diff_due_ms_, it->second.diff_due_ms);
        continue;
      }
      it->second.last_diff_ms = now_ms == INT64_MAX ? core::mono_millis() : now_ms;
      proto::PresenceDiff diff;
      diff.joins.reserve(it->second.pending_joins.size());
      diff.leaves.reserve(it->second.pending_leaves.size());
      for (auto& [k, v] : it->second.pending_joins) diff.joins.emplace_back(k, std::move(v));
      for (auto& [k, v] : it->second.pending_leaves) diff.leaves.emplace_back(k, std::move(v));
      it->second.pending_joins.clear();
      it->second.pending_leaves.clear();
      it->second.diff_pending = false;
      fn(it->first, it->second, diff);
    }
    dirty_.swap(waiting);
    waiting.clear();
  }
  // When the earliest paced diff is due (INT64_MAX: none waiting), as of the last take.
  [[nodiscard]] int64_t next_diff_due_ms() const { return next_diff_due_ms_; }

  // ---- joins answered once per turn (one presence_state encoding per room per turn)
  // Queues a join that is ready (room loaded, in cluster mode synced) for take_turn_joins.
  void queue_turn_join(OwnedRoom& room, JoinRoom&& join);
  // Forgets a queued join of the connection (it left before the end of the turn).
  static void cancel_turn_join(OwnedRoom& room, const ConnRef& conn);
  // Rooms with joins queued this turn, each with its joins in arrival order (none when all were
  // cancelled).
  template <typename Fn>
  void take_turn_joins(Fn&& fn) {
    std::vector<const std::string*> joining;
    joining.swap(joining_);
    for (auto* name : joining) {
      auto it = rooms_.find(*name);
      if (it == rooms_.end() || it->second.joins_this_turn.empty()) continue;
      // May be empty: every join queued was cancelled by its leave (the room may be unused now).
      std::vector<JoinRoom> joins = it->second.joins_this_turn.take();
      fn(it->first, it->second, joins);
    }
  }
  [[nodiscard]] size_t room_count() const { return rooms_.size(); }
  // Every room record (the server API's room listing).
  template <typename Fn>
  void for_each_room(Fn&& fn) const {
    for (const auto& [id, room] : rooms_) fn(id, room);
  }
  // Drops the per-user join budgets that are full again (KeyedRateLimit::prune), so a settled
  // room holds none: called from the shard's once-a-second sweep.
  // Once a second: join budgets full again are dropped, idle rooms' encoded states released.
  void prune_idle(int64_t now_ms) {
    for (auto& [name, room] : rooms_) {
      room.joins_per_user.prune(now_ms);
      room.state_cache.release_if_idle(now_ms);
    }
  }

  // ---- room records: created on a first join, dropped when unused.
  // The store's answer for a new record: ids continue after last_id. In cluster mode an ok sync
  // (Redis's order) wins over it whichever comes first.
  static void apply_loaded(OwnedRoom& room, int64_t last_id);
  // Nothing refers to the room any more: no member, no join waiting, no append or load in flight,
  // no presence diff to send, not watched in the cluster, no remote presence.
  [[nodiscard]] static bool is_unused(const OwnedRoom& room);
  // Drops the room's record if it is unused. True when dropped (or already gone).
  bool drop_if_unused(const std::string& room);

  // ---- cluster mode: presence of other nodes, merged into presence_state and diffs.
  // Creates the room record if needed (first join, or a join waiting for the cluster sync).
  OwnedRoom& ensure(const std::string& room);
  // Applies another node's joins/leaves (idempotent by phx_ref) and queues a remote diff. A join
  // past kMaxRemoteSessionsPerUserAndNode or kMaxRemoteMetasPerRoom is dropped. Returns how many
  // were dropped.
  size_t apply_remote(const std::string& room, const std::vector<ClusterMeta>& joins,
                      const std::vector<ClusterMeta>& leaves);
  // Remote joins dropped by those bounds since the start (a peer that breaks them is faulty).
  [[nodiscard]] uint64_t remote_metas_refused() const { return remote_refused_; }
  // Replaces the room's remote metas by a snapshot; the difference is queued as a remote diff.
  // Returns how many of the snapshot's metas were dropped (apply_remote's bounds).
  size_t replace_remote(const std::string& room, std::vector<ClusterMeta> snapshot);
  // Every meta of a dead node leaves every room (queued as remote diffs).
  void drop_remote_node(std::string_view node);
  // Forgets the room's remote metas without a diff (no local member is left to tell).
  void clear_remote(OwnedRoom& room);
  template <typename Fn>
  void take_remote_diffs(Fn&& fn) {
    for (auto* name : remote_dirty_) {
      auto it = rooms_.find(*name);
      if (it == rooms_.end() || !it->second.remote_diff_pending) continue;
      proto::PresenceDiff diff;
      for (auto& [k, v] : it->second.remote_pending_joins) diff.joins.emplace_back(k, std::move(v));
      for (auto& [k, v] : it->second.remote_pending_leaves)
        diff.leaves.emplace_back(k, std::move(v));
      it->second.remote_pending_joins.clear();
      it->second.remote_pending_leaves.clear();
      it->second.remote_diff_pending = false;
      if (!diff.joins.empty() || !diff.leaves.empty()) fn(it->first, it->second, diff);
    }
    remote_dirty_.clear();
  }

 private:
  void mark_dirty(const std::string& room_key, OwnedRoom& room);
  void mark_remote_dirty(const std::string& room_key, OwnedRoom& room);
  bool remove_remote(const std::string& room_key, OwnedRoom& room, const ClusterMeta& m);

  unsigned shard_;
  unsigned shards_;
  std::unordered_map<std::string, OwnedRoom> rooms_;
  std::vector<const std::string*> dirty_;        // keys of rooms_ (stable: unordered_map nodes)
  std::vector<const std::string*> dirty_spare_;  // take_pending_diffs' next dirty_
  std::vector<const std::string*> remote_dirty_;
  std::vector<const std::string*> joining_;  // keys of rooms with joins_this_turn
  PresencePacing pacing_;
  JoinStormMeter storm_;
  int64_t next_diff_due_ms_ = INT64_MAX;
  uint64_t ref_counter_ = 0;  // serial of this shard's metas (PresenceMeta::local)
  uint64_t remote_refused_ = 0;
};

}  // namespace rtchat::server
