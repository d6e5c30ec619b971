// The owner side without a ring: join -> store load -> presence_state + diff, publish ->
// StoreAppend, append done -> broadcast then ack, leave -> diff and the record dropped.
#include "server/shard/owner_rooms.h"

#include <gtest/gtest.h>

#include <utility>

#include "support/shard_fakes.h"

namespace rtchat::server {
namespace {

using testing::FakeOutbound;
using testing::payload_of;

constexpr unsigned kOwner = 0;

// One presence diff per turn (no pacing by room size): these tests follow single changes.
ServerConfig per_turn_config() {
  ServerConfig c;
  c.presence_pace_us_per_member = 0;
  return c;
}

struct OwnerFixture : ::testing::Test {
  OwnerFixture() { config.shards = 2; }
  ServerConfig config = per_turn_config();
  FakeOutbound out;
  FrameEncoder encoder;
  ShardMetrics metrics;
  OwnerRooms owner{kOwner, config, out, encoder, metrics};

  JoinRoom join(ConnRef conn, std::string user) {
    JoinRoom j;
    j.room = "lobby";
    j.conn = conn;
    j.join_id = 1;
    j.join_ref = "1";
    j.user_id = user;
    j.user_name = user;
    return j;
  }
  // Joins and answers the store load the first join asks for.
  void join_loaded(ConnRef conn, std::string user) {
    owner.on_join_room(join(conn, std::move(user)));
    std::vector<StorageRequest> requests = std::move(out.to_storage);
    out.to_storage.clear();
    for (auto& r : requests) {
      if (auto* l = std::get_if<StoreLoadRoom>(&r)) owner.on_room_loaded({l->room, true, 0});
    }
    owner.end_of_turn();  // joins are answered at the end of the owner's turn
    // The join's read-state trip (issue 16; owner_read_state_test.cpp covers it).
    out.to_storage.clear();
  }
  Publish publish(ConnRef conn, std::string body) {
    return Publish{"lobby", conn, "1", "2", "ann", "Ann", std::move(body), 0};
  }
};

TEST_F(OwnerFixture, JoinWaitsForTheStoreThenAnswersWithPresenceStateAndADiff) {
  const ConnRef ann{1, 4, 0};
  owner.on_join_room(join(ann, "ann"));
  ASSERT_EQ(out.to_storage.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<StoreLoadRoom>(out.to_storage[0]));
  EXPECT_TRUE(out.sent<JoinAccepted>().empty()) << "no answer before the room's last id is known";

  owner.on_room_loaded({"lobby", true, 41});
  EXPECT_TRUE(out.sent<JoinAccepted>().empty()) << "joins are answered at the end of the turn";
  owner.end_of_turn();
  auto accepted = out.sent<JoinAccepted>();
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].first, 1u) << "answered on the member's shard";
  EXPECT_TRUE(accepted[0].second.refused.empty());
  EXPECT_NE(payload_of(accepted[0].second.presence_state).find("presence_state"),
            std::string::npos);

  auto diffs = out.sent<RoomBroadcast>();
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].first, 1u);
  std::string diff = payload_of(diffs[0].second.json);
  EXPECT_NE(diff.find("presence_diff"), std::string::npos);
  EXPECT_NE(diff.find("ann"), std::string::npos);
}

TEST_F(OwnerFixture, PublishIsStoredFirstThenBroadcastThenAcked) {
  const ConnRef ann{1, 4, 0};
  join_loaded(ann, "ann");
  out.to_shards.clear();

  owner.on_publish(publish(ann, "hello"));
  EXPECT_TRUE(out.to_shards.empty()) << "nobody sees a message history does not have";
  ASSERT_EQ(out.to_storage.size(), 1u);
  auto* append = std::get_if<StoreAppend>(&out.to_storage[0]);
  ASSERT_NE(append, nullptr);
  EXPECT_EQ(append->message.id, 1);
  EXPECT_EQ(append->message.body, "hello");

  owner.on_append_done(
      StoreAppendDone{append->message, std::move(*append->origin), true, std::string()});
  ASSERT_EQ(out.to_shards.size(), 2u);
  auto* b = std::get_if<RoomBroadcast>(&out.to_shards[0].second);
  ASSERT_NE(b, nullptr) << "the broadcast goes before the ack on the same queue";
  EXPECT_EQ(b->message_id, 1);
  EXPECT_NE(payload_of(b->json).find("hello"), std::string::npos);
  EXPECT_TRUE(b->binary.empty()) << "no binary member: no binary frame encoded";
  auto* ack = std::get_if<PublishAck>(&out.to_shards[1].second);
  ASSERT_NE(ack, nullptr);
  EXPECT_TRUE(ack->ok);
  EXPECT_EQ(ack->id, 1);
  EXPECT_EQ(out.to_shards[1].first, 1u);
}

TEST_F(OwnerFixture, FailedAppendIsAnErrorAckAndNoBroadcast) {
  const ConnRef ann{1, 4, 0};
  join_loaded(ann, "ann");
  out.to_shards.clear();
  owner.on_publish(publish(ann, "hello"));
  auto* append = std::get_if<StoreAppend>(&out.to_storage[0]);
  owner.on_append_done(StoreAppendDone{append->message, std::move(*append->origin), false, "io"});
  auto acks = out.sent<PublishAck>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].second.ok);
  EXPECT_EQ(acks[0].second.reason, "storage unavailable");
  EXPECT_TRUE(out.sent<RoomBroadcast>().empty());
}

TEST_F(OwnerFixture, LeaveSendsADiffToTheOtherMembersAndTheLastLeaveDropsTheRoom) {
  const ConnRef ann{0, 1, 0};
  const ConnRef bob{1, 2, 0};
  join_loaded(ann, "ann");
  join_loaded(bob, "bob");
  owner.end_of_turn();
  out.to_shards.clear();

  owner.on_leave_room(LeaveRoom{"lobby", bob, "bob"});
  owner.end_of_turn();
  auto diffs = out.sent<RoomBroadcast>();
  ASSERT_EQ(diffs.size(), 1u) << "only shard 0 has a member left";
  EXPECT_EQ(diffs[0].first, 0u);
  EXPECT_NE(payload_of(diffs[0].second.json).find("bob"), std::string::npos);
  EXPECT_EQ(owner.room_count(), 1u);

  owner.on_leave_room(LeaveRoom{"lobby", ann, "ann"});
  owner.end_of_turn();
  EXPECT_EQ(owner.room_count(), 0u);
}

// More joins than a leave scans (JoinQueue marks the leaves instead): when every queued join
// leaves again, none is answered and the room goes at the end of the turn, whether the joins
// waited for the store's load or for the end of the turn.
TEST_F(OwnerFixture, QueuedJoinsThatAllLeaveAgainLeaveNoRoom) {
  constexpr uint32_t kJoins = 3 * JoinQueue::kScanUpTo;
  for (bool loaded_first : {false, true}) {
    if (loaded_first) {  // a member keeps the room loaded: the next joins wait for the turn
      join_loaded({0, 999, 1}, "keeper");
      out.to_shards.clear();
    }
    for (uint32_t i = 0; i < kJoins; ++i) {
      owner.on_join_room(join({0, i, 1}, "u" + std::to_string(i)));
    }
    for (uint32_t i = 0; i < kJoins; ++i)
      owner.on_leave_room(LeaveRoom{"lobby", {0, i, 1}, "u" + std::to_string(i)});
    if (loaded_first) owner.on_leave_room(LeaveRoom{"lobby", {0, 999, 1}, "keeper"});
    for (auto& r : std::exchange(out.to_storage, {})) {
      if (auto* l = std::get_if<StoreLoadRoom>(&r)) owner.on_room_loaded({l->room, true, 0});
    }
    owner.end_of_turn();
    EXPECT_TRUE(out.sent<JoinAccepted>().empty()) << loaded_first;
    EXPECT_EQ(owner.room_count(), 0u) << loaded_first;
    out.to_shards.clear();
  }
}

// Cluster mode: joins wait for the load and the cluster sync; when they all left meanwhile, the
// room stops being watched in the cluster once the waiting ends (as when a leave empties the
// queue at once), and goes.
TEST_F(OwnerFixture, ClusterJoinsThatAllLeftWhileWaitingUnwatchTheRoom) {
  config.cluster_url = "redis://127.0.0.1:1";  // never dialled: the link is this test
  constexpr uint32_t kJoins = 3 * JoinQueue::kScanUpTo;
  for (uint32_t i = 0; i < kJoins; ++i) {
    owner.on_join_room(join({0, i, 1}, "u" + std::to_string(i)));
  }
  for (uint32_t i = 0; i < kJoins; ++i)
    owner.on_leave_room(LeaveRoom{"lobby", {0, i, 1}, "u" + std::to_string(i)});
  for (auto& r : std::exchange(out.to_storage, {})) {
    if (auto* l = std::get_if<StoreLoadRoom>(&r)) owner.on_room_loaded({l->room, true, 0});
  }
  owner.on_cluster_room_synced(ClusterRoomSynced{"lobby", true, 0, {}});
  owner.end_of_turn();
  auto watches = out.sent<ClusterWatch>();
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_TRUE(watches[0].second.watch);
  EXPECT_FALSE(watches[1].second.watch);
  EXPECT_TRUE(out.sent<JoinAccepted>().empty());
  EXPECT_EQ(owner.room_count(), 0u);
}

TEST_F(OwnerFixture, PublishToARoomNotOwnedIsRefused) {
  owner.on_publish(publish({1, 4, 0}, "hello"));
  auto acks = out.sent<PublishAck>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].second.ok);
  EXPECT_EQ(acks[0].second.reason, "not joined");
  EXPECT_TRUE(out.to_storage.empty());
}

}  // namespace
}  // namespace rtchat::server
