#include "server/shard/room_owner.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::server {
namespace {

constexpr int64_t kRecoveryLimit = 100;

JoinRoom join_request(std::string room, ConnRef conn, std::string user, std::string device = {}) {
  JoinRoom r;
  r.room = std::move(room);
  r.conn = conn;
  r.join_ref = "1";
  r.user_id = user;
  r.user_name = "name-" + user;
  r.device = std::move(device);
  return r;
}

struct Joined {
  OwnedRoom* room = nullptr;
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
};

Joined do_join(RoomOwner& owner, const JoinRoom& request, int64_t limit = kRecoveryLimit) {
  Joined j;
  j.room = &owner.join(request, limit, j.accepted, j.catchup);
  return j;
}

struct TakenDiff {
  std::string room;
  proto::PresenceDiff diff;
};

std::vector<TakenDiff> take_all(RoomOwner& owner) {
  std::vector<TakenDiff> out;
  owner.take_pending_diffs([&](const std::string& room, OwnedRoom&, proto::PresenceDiff& diff) {
    out.push_back(TakenDiff{room, std::move(diff)});
  });
  return out;
}

std::vector<std::string> keys_of(const proto::PresenceEntries& entries) {
  std::vector<std::string> keys;
  for (const auto& [k, metas] : entries) keys.push_back(k);
  return keys;
}

const std::vector<proto::PresenceMeta>* metas_of(const proto::PresenceEntries& entries,
                                                 const std::string& key) {
  for (const auto& [k, metas] : entries) {
    if (k == key) return &metas;
  }
  return nullptr;
}

TEST(RoomOwner, OwnerShardIsDeterministicAndInRange) {
  for (unsigned shards : {1u, 2u, 7u}) {
    for (const char* room : {"lobby", "a", "room-42", "x.y_z"}) {
      unsigned s = owner_shard(room, shards);
      EXPECT_LT(s, shards);
      EXPECT_EQ(s, owner_shard(room, shards));
    }
  }
}

TEST(RoomOwner, FindIsNullUntilSomeoneJoins) {
  RoomOwner owner(0, 2);
  EXPECT_EQ(owner.find("lobby"), nullptr);
  EXPECT_EQ(owner.room_count(), 0u);
  do_join(owner, join_request("lobby", {0, 1, 1}, "alice"));
  EXPECT_NE(owner.find("lobby"), nullptr);
  EXPECT_EQ(owner.find("other"), nullptr);
  EXPECT_EQ(owner.room_count(), 1u);
}

TEST(RoomOwner, JoinCountsMembersPerShardAndFillsAccepted) {
  RoomOwner owner(0, 2);
  JoinRoom a = join_request("lobby", {0, 3, 9}, "alice");
  a.join_ref = "7";
  Joined ja = do_join(owner, a);
  EXPECT_EQ(ja.accepted.room, "lobby");
  EXPECT_EQ(ja.accepted.conn, (ConnRef{0, 3, 9}));
  EXPECT_EQ(ja.accepted.join_ref, std::optional<std::string>("7"));
  EXPECT_FALSE(ja.accepted.recovered.has_value());
  EXPECT_FALSE(ja.accepted.catchup_pending);
  EXPECT_FALSE(ja.catchup.has_value());

  do_join(owner, join_request("lobby", {1, 3, 9}, "bob"));
  JoinRoom c = join_request("lobby", {1, 4, 1}, "carol");
  c.format = WireFormat::Binary;
  do_join(owner, c);

  OwnedRoom* room = owner.find("lobby");
  ASSERT_NE(room, nullptr);
  ASSERT_EQ(room->members_per_shard.size(), 2u);
  EXPECT_EQ(room->members_per_shard[0], 1u);
  EXPECT_EQ(room->members_per_shard[1], 2u);
  EXPECT_EQ(room->binary_members, 1u);
  EXPECT_TRUE(room->has_members());

  EXPECT_TRUE(owner.leave(LeaveRoom{"lobby", {1, 4, 1}, "carol"}));
  EXPECT_EQ(room->binary_members, 0u);
  EXPECT_EQ(room->members_per_shard[1], 1u);
  EXPECT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 3, 9}, "alice"}));
  EXPECT_TRUE(owner.leave(LeaveRoom{"lobby", {1, 3, 9}, "bob"}));
  EXPECT_FALSE(room->has_members());
  EXPECT_TRUE(room->presence.empty());
}

TEST(RoomOwner, PresenceStateIsSortedByUserWithOneMetaPerConnection) {
  RoomOwner owner(1, 2);
  do_join(owner, join_request("lobby", {0, 1, 1}, "zed"));
  do_join(owner, join_request("lobby", {0, 2, 1}, "alice", "laptop"));
  do_join(owner, join_request("lobby", {1, 1, 1}, "alice", "phone"));
  do_join(owner, join_request("lobby", {1, 2, 1}, "bob"));

  proto::PresenceEntries state = owner.presence_state(*owner.find("lobby"));
  EXPECT_EQ(keys_of(state), (std::vector<std::string>{"alice", "bob", "zed"}));
  const auto* alice = metas_of(state, "alice");
  ASSERT_NE(alice, nullptr);
  ASSERT_EQ(alice->size(), 2u);
  EXPECT_EQ((*alice)[0].device(), "laptop");
  EXPECT_EQ((*alice)[1].device(), "phone");
  EXPECT_EQ((*alice)[0].name(), "name-alice");
  EXPECT_NE((*alice)[0].phx_ref(), (*alice)[1].phx_ref());
  EXPECT_GT((*alice)[0].online_at(), 0);
  const auto* bob = metas_of(state, "bob");
  ASSERT_NE(bob, nullptr);
  ASSERT_EQ(bob->size(), 1u);
  EXPECT_TRUE((*bob)[0].device().empty());
}

// The view the owner encodes joins' presence_state from borrows the records' metas (each inside
// a larger record): it must read every meta of every user exactly as the owned copy has it.
TEST(RoomOwner, BorrowedPresenceViewEncodesLikeTheOwnedCopy) {
  RoomOwner owner(1, 2);
  do_join(owner, join_request("lobby", {0, 1, 1}, "zed"));
  do_join(owner, join_request("lobby", {0, 2, 1}, "alice", "laptop"));
  do_join(owner, join_request("lobby", {1, 1, 1}, "alice", "phone"));
  do_join(owner, join_request("lobby", {1, 3, 1}, "alice", "tablet"));
  do_join(owner, join_request("lobby", {1, 2, 1}, "bob"));
  const OwnedRoom& room = *owner.find("lobby");
  const proto::PresenceEntries owned = owner.presence_state(room);
  proto::PresenceEntries merged;
  const proto::PresenceStateView view = owner.presence_state_view(room, merged);
  ASSERT_EQ(view.size(), owned.size());
  for (size_t i = 0; i < view.size(); ++i) {
    EXPECT_EQ(view[i].key, owned[i].first);
    ASSERT_EQ(view[i].metas.size(), owned[i].second.size());
    for (size_t m = 0; m < owned[i].second.size(); ++m) {
      EXPECT_EQ(view[i].metas[m], owned[i].second[m]) << owned[i].first << " meta " << m;
    }
  }
  for (const std::optional<std::string>& ref :
       {std::optional<std::string>("4"), std::optional<std::string>()}) {
    std::string from_view, from_copy;
    proto::phoenix::encode_presence_state(ref, "room:lobby", view, from_view);
    proto::phoenix::encode_presence_state(ref, "room:lobby", owned, from_copy);
    EXPECT_EQ(from_view, from_copy);
    from_view.clear();
    from_copy.clear();
    proto::binary::encode_presence_state(ref, "room:lobby", view, from_view);
    proto::binary::encode_presence_state(ref, "room:lobby", owned, from_copy);
    EXPECT_EQ(from_view, from_copy);
  }
  EXPECT_TRUE(merged.empty());  // no other node's metas: nothing copied
}

TEST(RoomOwner, PhxRefsAreUniqueAcrossRoomsAndJoins) {
  RoomOwner owner(0, 1);
  std::set<std::string> refs;
  for (uint32_t i = 0; i < 200; ++i) {
    std::string room = i % 2 ? "a" : "b";
    // 25 users: 4 sessions each per room, under kMaxSessionsPerUserInRoom.
    do_join(owner, join_request(room, {0, i, 1}, "u" + std::to_string(i % 25)));
  }
  for (const char* room : {"a", "b"}) {
    for (const auto& [user, metas] : owner.presence_state(*owner.find(room))) {
      for (const auto& m : metas) EXPECT_TRUE(refs.insert(m.phx_ref()).second) << m.phx_ref();
    }
  }
  EXPECT_EQ(refs.size(), 200u);
}

TEST(RoomOwner, LeaveRemovesOnlyThatConnectionsMeta) {
  RoomOwner owner(0, 2);
  do_join(owner, join_request("lobby", {0, 1, 1}, "alice", "laptop"));
  do_join(owner, join_request("lobby", {1, 1, 1}, "alice", "phone"));
  take_all(owner);

  std::string phone_ref =
      (*metas_of(owner.presence_state(*owner.find("lobby")), "alice"))[1].phx_ref();
  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {1, 1, 1}, "alice"}));
  proto::PresenceEntries state = owner.presence_state(*owner.find("lobby"));
  const auto* alice = metas_of(state, "alice");
  ASSERT_NE(alice, nullptr);
  ASSERT_EQ(alice->size(), 1u);
  EXPECT_EQ((*alice)[0].device(), "laptop");

  auto diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_TRUE(diffs[0].diff.joins.empty());
  ASSERT_EQ(diffs[0].diff.leaves.size(), 1u);
  EXPECT_EQ(diffs[0].diff.leaves[0].first, "alice");
  ASSERT_EQ(diffs[0].diff.leaves[0].second.size(), 1u);
  EXPECT_EQ(diffs[0].diff.leaves[0].second[0].phx_ref(), phone_ref);
  EXPECT_EQ(diffs[0].diff.leaves[0].second[0].device(), "phone");

  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "alice"}));
  EXPECT_TRUE(owner.presence_state(*owner.find("lobby")).empty());
}

TEST(RoomOwner, LeaveOfUnknownRoomOrConnectionIsFalseAndChangesNothing) {
  RoomOwner owner(0, 2);
  EXPECT_FALSE(owner.leave(LeaveRoom{"nowhere", {0, 1, 1}, "alice"}));
  do_join(owner, join_request("lobby", {0, 1, 1}, "alice"));
  take_all(owner);
  EXPECT_FALSE(owner.leave(LeaveRoom{"lobby", {0, 2, 1}, "alice"}));
  EXPECT_FALSE(owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "bob"}));  // the connection, not bob's
  // Same slot, later generation: a different connection that reuses the slot.
  EXPECT_FALSE(owner.leave(LeaveRoom{"lobby", {0, 1, 2}, "alice"}));
  EXPECT_FALSE(owner.leave(LeaveRoom{"lobby", {1, 1, 1}, "alice"}));
  EXPECT_TRUE(take_all(owner).empty());
  EXPECT_EQ(owner.find("lobby")->members_per_shard[0], 1u);
  EXPECT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "alice"}));
  EXPECT_FALSE(
      owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "alice"}));  // twice: the second is a no-op
  EXPECT_EQ(owner.find("lobby")->members_per_shard[0], 0u);
}

TEST(RoomOwner, JoinsAndLeavesOfOneTurnBecomeOneDiffPerRoom) {
  RoomOwner owner(0, 2);
  do_join(owner, join_request("lobby", {0, 1, 1}, "carol"));
  take_all(owner);

  do_join(owner, join_request("lobby", {0, 2, 1}, "alice", "laptop"));
  do_join(owner, join_request("lobby", {1, 2, 1}, "alice", "phone"));
  do_join(owner, join_request("lobby", {1, 3, 1}, "bob"));
  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "carol"}));
  do_join(owner, join_request("other", {1, 4, 1}, "dave"));

  auto diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 2u);
  const TakenDiff* lobby = diffs[0].room == "lobby" ? &diffs[0] : &diffs[1];
  const TakenDiff* other = diffs[0].room == "lobby" ? &diffs[1] : &diffs[0];
  ASSERT_EQ(lobby->room, "lobby");
  ASSERT_EQ(other->room, "other");

  EXPECT_EQ(keys_of(lobby->diff.joins), (std::vector<std::string>{"alice", "bob"}));
  ASSERT_EQ(metas_of(lobby->diff.joins, "alice")->size(), 2u);
  EXPECT_EQ((*metas_of(lobby->diff.joins, "alice"))[0].device(), "laptop");
  EXPECT_EQ((*metas_of(lobby->diff.joins, "alice"))[1].device(), "phone");
  EXPECT_EQ(keys_of(lobby->diff.leaves), (std::vector<std::string>{"carol"}));
  EXPECT_EQ(keys_of(other->diff.joins), (std::vector<std::string>{"dave"}));
  EXPECT_TRUE(other->diff.leaves.empty());

  // Flushed: nothing pending until the next change.
  EXPECT_TRUE(take_all(owner).empty());
  EXPECT_FALSE(owner.find("lobby")->diff_pending);
  EXPECT_TRUE(owner.find("lobby")->pending_joins.empty());
  EXPECT_TRUE(owner.find("lobby")->pending_leaves.empty());

  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {1, 3, 1}, "bob"}));
  diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_TRUE(diffs[0].diff.joins.empty());
  EXPECT_EQ(keys_of(diffs[0].diff.leaves), (std::vector<std::string>{"bob"}));
}

TEST(RoomOwner, JoinThenLeaveInOneTurnCarriesTheSameMetaInBoth) {
  // The client applies joins before leaves, so a meta in both ends up absent: correct.
  RoomOwner owner(0, 1);
  do_join(owner, join_request("lobby", {0, 1, 1}, "alice"));
  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 1, 1}, "alice"}));
  auto diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 1u);
  ASSERT_EQ(diffs[0].diff.joins.size(), 1u);
  ASSERT_EQ(diffs[0].diff.leaves.size(), 1u);
  EXPECT_EQ(diffs[0].diff.joins[0].second, diffs[0].diff.leaves[0].second);
  EXPECT_TRUE(owner.presence_state(*owner.find("lobby")).empty());
}

TEST(RoomOwner, ManyJoinsInOneTurnAreOneDiff) {
  RoomOwner owner(0, 2);
  for (uint32_t i = 0; i < 100; ++i) {
    do_join(owner, join_request("big", {i % 2, i, 1}, "u" + std::to_string(i)));
  }
  auto diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].diff.joins.size(), 100u);
  EXPECT_EQ(owner.find("big")->members_per_shard[0], 50u);
  EXPECT_EQ(owner.find("big")->members_per_shard[1], 50u);
}

TEST(RoomOwner, SessionsOfOneUserInARoomAreCappedAndARefusalRecordsNothing) {
  RoomOwner owner(0, 2);
  for (uint32_t i = 0; i < kMaxSessionsPerUserInRoom; ++i) {
    Joined j = do_join(owner, join_request("lobby", {i % 2, i, 1}, "mallory"));
    EXPECT_TRUE(j.accepted.refused.empty()) << i;
  }
  take_all(owner);
  JoinRoom extra = join_request("lobby", {1, 100, 1}, "mallory");
  extra.join_id = 77;
  extra.last_seen_id = 0;
  Joined refused = do_join(owner, extra);
  EXPECT_EQ(refused.accepted.refused, kTooManySessions);
  EXPECT_EQ(refused.accepted.join_id, 77u);  // the member shard matches the refusal to its join
  EXPECT_EQ(refused.accepted.conn, extra.conn);
  EXPECT_FALSE(refused.catchup.has_value());
  EXPECT_TRUE(take_all(owner).empty()) << "a refused join sends no presence";
  const OwnedRoom& room = *owner.find("lobby");
  EXPECT_EQ(room.members_per_shard[0] + room.members_per_shard[1], kMaxSessionsPerUserInRoom);
  EXPECT_EQ(metas_of(owner.presence_state(room), "mallory")->size(), kMaxSessionsPerUserInRoom);
  EXPECT_FALSE(owner.leave(LeaveRoom{"lobby", extra.conn, "mallory"}))
      << "the refused connection holds nothing";

  // Other users and other rooms are not affected; a freed session can be taken again.
  EXPECT_TRUE(do_join(owner, join_request("lobby", {0, 200, 1}, "alice")).accepted.refused.empty());
  EXPECT_TRUE(
      do_join(owner, join_request("other", {0, 100, 1}, "mallory")).accepted.refused.empty());
  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", {0, 0, 1}, "mallory"}));
  EXPECT_TRUE(do_join(owner, extra).accepted.refused.empty());
}

TEST(RoomOwner, JoinsOfOneUserInARoomAreRateLimitedWhateverTheConnection) {
  RoomOwner owner(0, 1);
  // Each join on a fresh connection that leaves again: the session cap never applies, the
  // per-user budget does (a reconnect brings no fresh budget).
  uint32_t slot = 0;
  int accepted = 0;
  std::string refusal;
  for (int i = 0; i < kUserJoinBurst + 4; ++i) {
    JoinRoom r = join_request("lobby", {0, ++slot, 1}, "mallory");
    Joined j = do_join(owner, r);
    if (j.accepted.refused.empty()) {
      ++accepted;
      ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", r.conn, r.user_id}));
    } else {
      refusal = j.accepted.refused;
    }
  }
  EXPECT_EQ(accepted, kUserJoinBurst);
  EXPECT_EQ(refusal, kJoinRateLimited);
  // Other users, and the same user in another room, have their own budgets.
  EXPECT_TRUE(
      do_join(owner, join_request("lobby", {0, ++slot, 1}, "alice")).accepted.refused.empty());
  EXPECT_TRUE(
      do_join(owner, join_request("other", {0, ++slot, 1}, "mallory")).accepted.refused.empty());
}

// While the user has a socket in the room, the budget lives in their records and the room's table
// tracks nothing for them (a join storm makes no table entry per user); the same budget goes
// back to the table when their last socket leaves, and comes back from it on a rejoin.
TEST(RoomOwner, UserJoinBudgetFollowsTheUserBetweenRecordsAndTable) {
  RoomOwner owner(0, 1);
  uint32_t slot = 0;
  JoinRoom stays = join_request("lobby", {0, ++slot, 1}, "mallory");
  ASSERT_TRUE(do_join(owner, stays).accepted.refused.empty());
  EXPECT_EQ(owner.find("lobby")->joins_per_user.tracked_keys(), 0u);
  int accepted = 1;
  for (int i = 0; i < kUserJoinBurst; ++i) {  // a second socket joins and leaves, over and over
    JoinRoom r = join_request("lobby", {0, ++slot, 1}, "mallory");
    if (!do_join(owner, r).accepted.refused.empty()) break;
    ++accepted;
    ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", r.conn, r.user_id}));
    EXPECT_EQ(owner.find("lobby")->joins_per_user.tracked_keys(), 0u);
  }
  EXPECT_EQ(accepted, kUserJoinBurst);
  // The last socket leaves: the spent budget is kept in the table, so a reconnect is refused.
  ASSERT_TRUE(owner.leave(LeaveRoom{"lobby", stays.conn, stays.user_id}));
  EXPECT_TRUE(owner.find("lobby")->joins_per_user.tracks("mallory"));
  EXPECT_EQ(do_join(owner, join_request("lobby", {0, ++slot, 1}, "mallory")).accepted.refused,
            kJoinRateLimited);
}

class RoomOwnerRecovery : public ::testing::Test {
 protected:
  // The room's last committed id comes from storage when its record is created.
  void SetUp() override { RoomOwner::apply_loaded(owner_.ensure("lobby"), 10); }
  RoomOwner owner_{0, 2};

  Joined join_with(std::optional<int64_t> last_seen, int64_t limit = kRecoveryLimit) {
    JoinRoom r = join_request("lobby", {0, next_slot_++, 1}, "alice");
    r.last_seen_id = last_seen;
    return do_join(owner_, r, limit);
  }
  uint32_t next_slot_ = 1;
};

TEST_F(RoomOwnerRecovery, StoredLastIdSeedsTheRoom) {
  join_with(std::nullopt);
  EXPECT_EQ(owner_.find("lobby")->last_committed_id, 10);
  EXPECT_EQ(owner_.find("lobby")->last_assigned_id, 10);
}

TEST_F(RoomOwnerRecovery, WithoutLastSeenIdThereIsNoRecoveryAnswer) {
  Joined j = join_with(std::nullopt);
  EXPECT_FALSE(j.accepted.recovered.has_value());
  EXPECT_FALSE(j.accepted.catchup_pending);
  EXPECT_FALSE(j.catchup.has_value());
}

TEST_F(RoomOwnerRecovery, MissedMessagesWithinTheLimitAreCaughtUp) {
  Joined j = join_with(7);
  EXPECT_EQ(j.accepted.recovered, std::optional<bool>(true));
  EXPECT_TRUE(j.accepted.catchup_pending);
  ASSERT_TRUE(j.catchup.has_value());
  EXPECT_EQ(j.catchup->room, "lobby");
  EXPECT_EQ(j.catchup->conn, j.accepted.conn);
  EXPECT_EQ(j.catchup->after_id, 7);
  EXPECT_EQ(j.catchup->upto_id, 10);
  EXPECT_EQ(j.catchup->max_count, kRecoveryLimit);
}

TEST_F(RoomOwnerRecovery, TheJoinIdTravelsWithTheAnswerAndTheCatchup) {
  JoinRoom r = join_request("lobby", {0, 1, 1}, "alice");
  r.join_id = 41;
  r.last_seen_id = 4;
  Joined j = do_join(owner_, r);
  EXPECT_EQ(j.accepted.join_id, 41u);
  ASSERT_TRUE(j.catchup.has_value());
  EXPECT_EQ(j.catchup->join_id, 41u);
  // A rejoin of the same connection, same join_ref: only the join id tells the answers apart.
  ASSERT_TRUE(owner_.leave(LeaveRoom{"lobby", r.conn, r.user_id}));
  r.join_id = 42;
  r.last_seen_id = 0;
  Joined again = do_join(owner_, r);
  EXPECT_EQ(again.accepted.join_id, 42u);
  ASSERT_TRUE(again.catchup.has_value());
  EXPECT_EQ(again.catchup->join_id, 42u);
  EXPECT_EQ(again.catchup->after_id, 0);
}

TEST_F(RoomOwnerRecovery, UpToDateClientRecoversWithoutCatchup) {
  Joined j = join_with(10);
  EXPECT_EQ(j.accepted.recovered, std::optional<bool>(true));
  EXPECT_FALSE(j.accepted.catchup_pending);
  EXPECT_FALSE(j.catchup.has_value());
}

TEST_F(RoomOwnerRecovery, ClientAheadOfTheRoomRecoversWithoutCatchup) {
  Joined j = join_with(50);
  EXPECT_EQ(j.accepted.recovered, std::optional<bool>(true));
  EXPECT_FALSE(j.catchup.has_value());
}

TEST_F(RoomOwnerRecovery, GapAtTheLimitIsRecoveredAndBeyondItIsNot) {
  Joined at = join_with(7, /*limit=*/3);
  EXPECT_EQ(at.accepted.recovered, std::optional<bool>(true));
  ASSERT_TRUE(at.catchup.has_value());
  EXPECT_EQ(at.catchup->after_id, 7);
  EXPECT_EQ(at.catchup->upto_id, 10);

  Joined beyond = join_with(6, /*limit=*/3);
  EXPECT_EQ(beyond.accepted.recovered, std::optional<bool>(false));
  EXPECT_FALSE(beyond.accepted.catchup_pending);
  EXPECT_FALSE(beyond.catchup.has_value());

  Joined from_zero = join_with(0);  // 10 missing, limit 100
  EXPECT_EQ(from_zero.accepted.recovered, std::optional<bool>(true));
  ASSERT_TRUE(from_zero.catchup.has_value());
  EXPECT_EQ(from_zero.catchup->after_id, 0);
}

TEST_F(RoomOwnerRecovery, CatchupStopsAtTheLastCommittedIdNotTheLastAssigned) {
  join_with(std::nullopt);
  OwnedRoom* room = owner_.find("lobby");
  room->last_assigned_id = 14;  // four publishes in flight to storage
  Joined j = join_with(8);
  ASSERT_TRUE(j.catchup.has_value());
  EXPECT_EQ(j.catchup->upto_id, 10);
}

TEST(RoomOwner, NewRoomWithoutStoredIdsStartsAtZero) {
  RoomOwner owner(0, 1);
  RoomOwner::apply_loaded(owner.ensure("lobby"), 10);
  RoomOwner::apply_loaded(owner.ensure("fresh"), 0);
  JoinRoom r = join_request("fresh", {0, 1, 1}, "alice");
  r.last_seen_id = 0;
  Joined j = do_join(owner, r);
  EXPECT_EQ(j.room->last_committed_id, 0);
  EXPECT_EQ(j.accepted.recovered, std::optional<bool>(true));
  EXPECT_FALSE(j.catchup.has_value());
}

// ---- room records: created on demand, loaded from the store, dropped when unused (issue 12).

TEST(RoomOwnerRecords, NewRecordIsUnloadedAndUnusedUntilSomethingRefersToIt) {
  RoomOwner owner(0, 2);
  OwnedRoom& room = owner.ensure("new");
  EXPECT_FALSE(room.loaded);
  EXPECT_FALSE(room.load_pending);
  EXPECT_EQ(room.last_committed_id, 0);
  EXPECT_TRUE(RoomOwner::is_unused(room));
  EXPECT_EQ(owner.room_count(), 1u);
  EXPECT_TRUE(owner.drop_if_unused("new"));
  EXPECT_EQ(owner.room_count(), 0u);
  EXPECT_EQ(owner.find("new"), nullptr);
  EXPECT_TRUE(owner.drop_if_unused("never-existed"));
}

TEST(RoomOwnerRecords, ApplyLoadedContinuesAfterTheStoredId) {
  RoomOwner owner(0, 1);
  OwnedRoom& room = owner.ensure("lobby");
  RoomOwner::apply_loaded(room, 41);
  EXPECT_TRUE(room.loaded);
  EXPECT_EQ(room.last_assigned_id, 41);
  EXPECT_EQ(room.last_committed_id, 41);
}

TEST(RoomOwnerRecords, ClusterBaselineWinsOverALaterStoreAnswer) {
  RoomOwner owner(0, 1);
  OwnedRoom& room = owner.ensure("lobby");
  room.last_assigned_id = room.last_committed_id = 7;  // Redis's last id (ok sync came first)
  room.cluster_baseline = true;
  RoomOwner::apply_loaded(room, 50);  // the node's local copy: only a floor while Redis is away
  EXPECT_TRUE(room.loaded);
  EXPECT_EQ(room.last_committed_id, 7);
}

TEST(RoomOwnerRecords, EachPendingReferenceKeepsTheRecord) {
  RoomOwner owner(0, 2);
  auto check = [&](auto&& set, auto&& clear, const char* what) {
    OwnedRoom& room = owner.ensure("r");
    set(room);
    EXPECT_FALSE(RoomOwner::is_unused(room)) << what;
    EXPECT_FALSE(owner.drop_if_unused("r")) << what;
    ASSERT_NE(owner.find("r"), nullptr) << what;
    clear(*owner.find("r"));
    EXPECT_TRUE(owner.drop_if_unused("r")) << what;
    EXPECT_EQ(owner.find("r"), nullptr) << what;
  };
  check([](OwnedRoom& r) { r.members_per_shard[1] = 1; },
        [](OwnedRoom& r) { r.members_per_shard[1] = 0; }, "member");
  check(
      [](OwnedRoom& r) {
        r.joins_waiting.push_back(join_request("r", {0, 1, 1}, "a"));
      },
      [](OwnedRoom& r) { r.joins_waiting.clear(); }, "join waiting");
  check([](OwnedRoom& r) { r.appends_in_flight = 2; },
        [](OwnedRoom& r) { r.appends_in_flight = 0; }, "appends in flight");
  check([](OwnedRoom& r) { r.load_pending = true; }, [](OwnedRoom& r) { r.load_pending = false; },
        "load in flight");
  check([](OwnedRoom& r) { r.cluster_watched = true; },
        [](OwnedRoom& r) { r.cluster_watched = false; }, "watched in the cluster");
  check(
      [](OwnedRoom& r) {
        r.remote_presence["bob"].push_back(ClusterMeta{"B", "bob", {}});
      },
      [](OwnedRoom& r) { r.remote_presence.clear(); }, "remote presence");
}

TEST(RoomOwnerRecords, LeaveDropsOnlyAfterTheLeaveDiffWasTaken) {
  RoomOwner owner(0, 2);
  RoomOwner::apply_loaded(owner.ensure("r"), 3);
  do_join(owner, join_request("r", {1, 1, 1}, "alice"));
  take_all(owner);
  ASSERT_TRUE(owner.leave(LeaveRoom{"r", {1, 1, 1}, "alice"}));
  EXPECT_FALSE(owner.drop_if_unused("r")) << "its leave diff is still to be sent";
  auto diffs = take_all(owner);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].diff.leaves.size(), 1u);
  EXPECT_TRUE(owner.drop_if_unused("r"));
  EXPECT_EQ(owner.room_count(), 0u);
}

TEST(RoomOwnerRecords, DroppedRoomLeavesNoDanglingDirtyEntry) {
  RoomOwner owner(0, 1);
  // A remote diff queued, then cleared without being taken (the last local member left): the
  // dirty list still names the room when it is dropped.
  owner.ensure("r").cluster_watched = true;
  owner.apply_remote("r", {ClusterMeta{"B", "bob", {"ref1", 1, "Bob", ""}}}, {});
  OwnedRoom& room = *owner.find("r");
  owner.clear_remote(room);
  room.cluster_watched = false;
  ASSERT_TRUE(owner.drop_if_unused("r"));
  // A new record under the same name must not be reached through the old entry.
  owner.ensure("r");
  int calls = 0;
  owner.take_remote_diffs([&](const std::string&, OwnedRoom&, proto::PresenceDiff&) { ++calls; });
  EXPECT_EQ(calls, 0);
  owner.take_pending_diffs([&](const std::string&, OwnedRoom&, proto::PresenceDiff&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(RoomOwnerRecords, ChurnOfManyNamesLeavesNoRecord) {
  RoomOwner owner(0, 2);
  for (int i = 0; i < 1000; ++i) {
    std::string name = "churn-" + std::to_string(i);
    RoomOwner::apply_loaded(owner.ensure(name), 0);
    do_join(owner, join_request(name, {1, 7, 1}, "mallory"));
    ASSERT_TRUE(owner.leave(LeaveRoom{name, {1, 7, 1}, "mallory"}));
    take_all(owner);
    ASSERT_TRUE(owner.drop_if_unused(name));
  }
  EXPECT_EQ(owner.room_count(), 0u);
}

}  // namespace
}  // namespace rtchat::server
