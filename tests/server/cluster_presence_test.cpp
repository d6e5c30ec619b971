// RoomOwner's remote presence (cluster mode): merged into presence_state, idempotent by phx_ref,
// replaced by a snapshot, and dropped per dead node, each change queued as a remote diff.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace rtchat::server
