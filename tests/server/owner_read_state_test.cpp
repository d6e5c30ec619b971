// The owner side of read state (issue 16) without a ring: every join carries a read-state trip
// to storage; a mark_read is clamped to the room's last committed id and stored; its answer
// pushes read_state to the user's other sockets (one message per shard, never the sender) and
// then acks the sender.
#include <gtest/gtest.h>

#include "server/shard/owner_rooms.h"
#include "support/shard_fakes.h"

namespace rtchat::server {
namespace {

using testing::FakeOutbound;

struct OwnerReadState : ::testing::Test {
  OwnerReadState() { config.shards = 2; }
  ServerConfig config;
  FakeOutbound out;
  FrameEncoder encoder;
  ShardMetrics metrics;
  OwnerRooms owner{0, config, out, encoder, metrics};

  // Joins lobby (stored last id 9) and returns the join's storage trip.
  StoreCatchup join(ConnRef conn, const std::string& user) {
    JoinRoom j;
    j.room = "lobby";
    j.conn = conn;
    j.join_id = 1;
    j.user_id = user;
    j.user_name = user;
    owner.on_join_room(std::move(j));
    std::vector<StorageRequest> requests = std::move(out.to_storage);
    out.to_storage.clear();
    for (auto& r : requests) {
      if (auto* l = std::get_if<StoreLoadRoom>(&r)) owner.on_room_loaded({l->room, true, 9});
    }
    owner.end_of_turn();  // joins are answered at the end of the owner's turn
    for (auto& r : requests) {
      if (auto* c = std::get_if<StoreCatchup>(&r)) return *c;
    }
    EXPECT_EQ(out.to_storage.size(), 1u);
    auto* trip = out.to_storage.empty() ? nullptr : std::get_if<StoreCatchup>(&out.to_storage[0]);
    StoreCatchup copy = trip ? *trip : StoreCatchup{};
    out.to_storage.clear();
    return copy;
  }
};

TEST_F(OwnerReadState, AJoinLoadsTheUsersReadStateWithoutRecovering) {
  StoreCatchup trip = join({1, 4, 0}, "ann");
  EXPECT_EQ(trip.read_state_of, "ann");
  EXPECT_FALSE(trip.recovering);
  EXPECT_EQ(trip.max_count, 0);
  EXPECT_EQ(trip.upto_id, 9) << "unread counts what was committed when the join was accepted";
  auto accepted = out.sent<JoinAccepted>();
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_TRUE(accepted[0].second.catchup_pending) << "the reply waits for the read state";
}

TEST_F(OwnerReadState, AMarkIsClampedStoredThenPushedToTheOtherSocketsThenAcked) {
  const ConnRef phone{1, 4, 0}, laptop{0, 7, 0}, tablet{1, 5, 0}, other{0, 8, 0};
  join(phone, "ann");
  join(laptop, "ann");
  join(tablet, "ann");
  join(other, "bob");
  out.to_shards.clear();

  owner.on_mark_read(MarkRead{"lobby", phone, "1", "5", "ann", 500});
  ASSERT_EQ(out.to_storage.size(), 1u);
  auto* store = std::get_if<StoreMarkRead>(&out.to_storage[0]);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->id, 9) << "clamped to the last committed id";
  EXPECT_TRUE(out.to_shards.empty()) << "nothing before the commit";

  owner.on_mark_read_done(StoreMarkReadDone{store->origin, true, 9, {}});
  auto pushes = out.sent<ReadStatePush>();
  ASSERT_EQ(pushes.size(), 2u) << "one per shard with another socket of ann";
  for (const auto& [shard, push] : pushes) {
    EXPECT_EQ(push.last_read_id, 9);
    ASSERT_EQ(push.conns.size(), 1u);
    EXPECT_EQ(push.conns[0], shard == 0 ? laptop : tablet) << "not the sender, not bob";
  }
  auto acks = out.sent<MarkReadAck>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, 1u);
  EXPECT_TRUE(acks[0].second.ok);
  EXPECT_EQ(acks[0].second.last_read_id, 9);
}

TEST_F(OwnerReadState, AFailedStoreIsAnErrorAckAndNoPush) {
  join({1, 4, 0}, "ann");
  join({0, 7, 0}, "ann");
  out.to_shards.clear();
  owner.on_mark_read(MarkRead{"lobby", {1, 4, 0}, "1", "5", "ann", 3});
  auto* store = std::get_if<StoreMarkRead>(&out.to_storage[0]);
  owner.on_mark_read_done(StoreMarkReadDone{store->origin, false, 0, "io"});
  EXPECT_TRUE(out.sent<ReadStatePush>().empty());
  auto acks = out.sent<MarkReadAck>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].second.ok);
  EXPECT_EQ(acks[0].second.reason, "storage unavailable");
}

TEST_F(OwnerReadState, AMarkWhileStorageIsBehindIsOverloaded) {
  join({1, 4, 0}, "ann");
  out.storage_behind = true;
  owner.on_mark_read(MarkRead{"lobby", {1, 4, 0}, "1", "5", "ann", 3});
  EXPECT_TRUE(out.to_storage.empty());
  auto acks = out.sent<MarkReadAck>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].second.reason, "overloaded");
}

}  // namespace
}  // namespace rtchat::server
