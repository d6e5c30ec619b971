// RoomOwner's remote presence (cluster mode): merged into presence_state, idempotent by phx_ref,
// replaced by a snapshot, and dropped per dead node, each change queued as a remote diff.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "server/shard/room_owner.h"

namespace rtchat::server {
namespace {

ClusterMeta remote(std::string node, std::string user, std::string ref) {
  return ClusterMeta{std::move(node), std::move(user), {std::move(ref), 1, "N", ""}};
}

struct Fixture {
  RoomOwner owner{0, 1};
  OwnedRoom* room = nullptr;
  Fixture() {
    JoinRoom j;
    j.room = "r";
    j.user_id = "local";
    JoinAccepted accepted;
    std::optional<StoreCatchup> catchup;
    room = &owner.join(j, 100, accepted, catchup);
    owner.take_pending_diffs([](auto&, auto&, auto&) {});
  }
  proto::PresenceDiff take() {
    proto::PresenceDiff out;
    owner.take_remote_diffs([&](auto&, auto&, proto::PresenceDiff& d) { out = d; });
    return out;
  }
};

TEST(ClusterPresence, RemoteMetasMergeIntoPresenceStateUnderOneKey) {
  Fixture f;
  f.owner.apply_remote("r", {remote("b", "local", "R1"), remote("b", "zed", "R2")}, {});
  auto state = f.owner.presence_state(*f.room);
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "local");
  EXPECT_EQ(state[0].second.size(), 2u);  // one user on two nodes: one key, two metas
  EXPECT_EQ(state[1].first, "zed");
  auto diff = f.take();
  EXPECT_EQ(diff.joins.size(), 2u);
  EXPECT_TRUE(diff.leaves.empty());
}

TEST(ClusterPresence, JoinsAndLeavesAreIdempotentByRef) {
  Fixture f;
  f.owner.apply_remote("r", {remote("b", "u", "R1")}, {});
  f.take();
  f.owner.apply_remote("r", {remote("b", "u", "R1")}, {});
  EXPECT_TRUE(f.take().joins.empty());
  f.owner.apply_remote("r", {}, {remote("b", "u", "R1")});
  EXPECT_EQ(f.take().leaves.size(), 1u);
  f.owner.apply_remote("r", {}, {remote("b", "u", "R1")});
  EXPECT_TRUE(f.take().leaves.empty());
}

// A faulty or rogue peer cannot make the owner hold without bound: per user and node at most twice
// what an honest node allows in a room, per room at most kMaxRemoteMetasPerRoom; a leave frees a
// place.
TEST(ClusterPresence, RemoteMetasAreBoundedPerUserAndNodeAndPerRoom) {
  Fixture f;
  std::vector<ClusterMeta> burst;
  for (size_t i = 0; i < kMaxRemoteSessionsPerUserAndNode + 3; ++i) {
    burst.push_back(remote("b", "u", "B" + std::to_string(i)));
  }
  EXPECT_EQ(f.owner.apply_remote("r", burst, {}), 3u);
  EXPECT_EQ(f.room->remote_presence.at("u").size(), kMaxRemoteSessionsPerUserAndNode);
  EXPECT_EQ(f.take().joins.at(0).second.size(), kMaxRemoteSessionsPerUserAndNode);
  // The same user on another node has its own allowance; a leave frees one on node b.
  EXPECT_EQ(f.owner.apply_remote("r", {remote("c", "u", "C0")}, {}), 0u);
  EXPECT_EQ(f.owner.apply_remote("r", {remote("b", "u", "B99")}, {remote("b", "u", "B0")}), 0u);
  EXPECT_EQ(f.room->remote_presence.at("u").size(), kMaxRemoteSessionsPerUserAndNode + 1);
  EXPECT_EQ(f.room->remote_metas, kMaxRemoteSessionsPerUserAndNode + 1);
  f.take();

  // The room's bound: many users, one meta each.
  std::vector<ClusterMeta> crowd;
  for (uint32_t i = 0; i < kMaxRemoteMetasPerRoom; ++i) {
    crowd.push_back(remote("d", "p" + std::to_string(i), "D" + std::to_string(i)));
  }
  EXPECT_EQ(f.owner.apply_remote("r", crowd, {}), kMaxRemoteSessionsPerUserAndNode + 1);
  EXPECT_EQ(f.room->remote_metas, kMaxRemoteMetasPerRoom);
  EXPECT_EQ(f.owner.remote_metas_refused(), 3u + kMaxRemoteSessionsPerUserAndNode + 1);
  // A snapshot that names none of them replaces them all: the count follows.
  EXPECT_EQ(f.owner.replace_remote("r", {remote("b", "u", "S1")}), 0u);
  EXPECT_EQ(f.room->remote_metas, 1u);
}

TEST(ClusterPresence, SnapshotReplacesRemoteMetasWithADiff) {
  Fixture f;
  f.owner.apply_remote("r", {remote("b", "u", "R1"), remote("b", "v", "R2")}, {});
  f.take();
  f.owner.replace_remote("r", {remote("b", "v", "R2"), remote("c", "w", "R3")});
  auto diff = f.take();
  ASSERT_EQ(diff.leaves.size(), 1u);
  EXPECT_EQ(diff.leaves[0].first, "u");
  ASSERT_EQ(diff.joins.size(), 1u);
  EXPECT_EQ(diff.joins[0].first, "w");
}

TEST(ClusterPresence, DeadNodeLeavesEveryRoom) {
  Fixture f;
  f.owner.apply_remote("r", {remote("b", "u", "R1"), remote("c", "v", "R2")}, {});
  f.take();
  f.owner.drop_remote_node("b");
  auto diff = f.take();
  ASSERT_EQ(diff.leaves.size(), 1u);
  EXPECT_EQ(diff.leaves[0].first, "u");
  auto state = f.owner.presence_state(*f.room);
  ASSERT_EQ(state.size(), 2u);  // local and v remain
}

using UserRef = std::pair<std::string, std::string>;  // (user id, phx_ref)

std::multiset<UserRef> user_refs(const proto::PresenceEntries& entries) {
  std::multiset<UserRef> out;
  for (const auto& [user, metas] : entries) {
    for (const auto& m : metas) out.emplace(user, m.phx_ref());
  }
  return out;
}

// 5,000 remote metas (2,500 users on two nodes), then a snapshot in which every other one is a
// new connection, one meta moved to another user under the same phx_ref, and a known and a new meta
// listed twice: exactly the replaced metas leave, exactly the new ones join, and what stays is the
// snapshot. The same snapshot again changes nothing.
TEST(ClusterPresence, LargeSnapshotReplacesExactlyTheMetasNotInIt) {
  constexpr int kMetas = 5000;
  auto meta = [](int i, int generation) {
    return remote(i % 2 ? "b" : "c", "u" + std::to_string(i / 2),
                  "R" + std::to_string(generation) + "." + std::to_string(i));
  };
  Fixture f;
  std::vector<ClusterMeta> first;
  for (int i = 0; i < kMetas; ++i) first.push_back(meta(i, 0));
  f.owner.replace_remote("r", first);
  auto diff = f.take();
  EXPECT_EQ(user_refs(diff.joins).size(), size_t{kMetas});
  EXPECT_TRUE(diff.leaves.empty());

  std::vector<ClusterMeta> second;
  std::multiset<UserRef> joined;
  std::multiset<UserRef> left;
  std::multiset<UserRef> expected_state{{"local", ""}};
  for (int i = 0; i < kMetas; ++i) {
    bool replaced = i % 2 == 0;
    second.push_back(meta(i, replaced ? 1 : 0));
    if (replaced) {
      joined.emplace(second.back().user_id, second.back().meta.phx_ref());
      left.emplace(first[i].user_id, first[i].meta.phx_ref());
    }
  }
  second[1].user_id = "moved";  // the same phx_ref under another user is another meta
  joined.emplace("moved", second[1].meta.phx_ref());
  left.emplace(first[1].user_id, first[1].meta.phx_ref());
  // Listed twice, a known meta and a new one: nothing more leaves, the new one joins once.
  second.push_back(second[3]);
  second.push_back(second[2]);
  for (int i = 0; i < kMetas; ++i)
    expected_state.emplace(second[i].user_id, second[i].meta.phx_ref());

  f.owner.replace_remote("r", second);
  diff = f.take();
  EXPECT_EQ(user_refs(diff.joins), joined);
  EXPECT_EQ(user_refs(diff.leaves), left);
  auto state = user_refs(f.owner.presence_state(*f.room));
  // The local member's meta has a ref of its own: compare it by user only.
  auto local =
      std::find_if(state.begin(), state.end(), [](const UserRef& r) { return r.first == "local"; });
  ASSERT_NE(local, state.end());
  state.erase(local);
  state.emplace("local", "");
  EXPECT_EQ(state, expected_state);

  f.owner.replace_remote("r", second);
  diff = f.take();
  EXPECT_TRUE(diff.joins.empty());
  EXPECT_TRUE(diff.leaves.empty());
  f.owner.replace_remote("r", {});
  EXPECT_EQ(user_refs(f.take().leaves).size(), size_t{kMetas});
  EXPECT_EQ(f.owner.presence_state(*f.room).size(), 1u);  // the local member
}

}  // namespace
}  // namespace rtchat::server
