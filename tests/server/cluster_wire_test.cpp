#include "server/cluster/cluster_wire.h"

#include <gtest/gtest.h>

namespace rtchat::server::cluster {
namespace {

TEST(ClusterWire, MessageRoundTripsThroughTheScriptsFraming) {
  proto::ChatMessage m{0, "lobby", "u1", "Ann: \"x\"", std::string("a:b\n\0c", 6), 1700000000123};
  // The Lua script prepends 'm' lp(id) to the tail the link built.
  std::string payload = "m2:42" + message_tail(m);
  proto::ChatMessage out;
  ASSERT_TRUE(parse_message(payload, "lobby", out));
  m.id = 42;
  EXPECT_EQ(out, m);
}

TEST(ClusterWire, RejectsTruncatedOrForeignPayloads) {
  proto::ChatMessage out;
  std::string good = "m1:7" + message_tail({0, "r", "u", "n", "body", 5});
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(parse_message(good.substr(0, cut), "r", out)) << cut;
  }
  EXPECT_FALSE(parse_message(good + "x", "r", out));
  EXPECT_FALSE(parse_message("p1:a", "r", out));
  EXPECT_FALSE(parse_message("m99999999999:1", "r", out));
  EXPECT_FALSE(parse_message("m-1:1", "r", out));
}

// Ids outside 1..2^53-1 from Redis are dropped (a forged INT64_MAX would overflow
// last_delivered + 1; past 2^53 the script's Lua numbers lose exactness).
TEST(ClusterWire, MessageIdsOutOfRangeAreRejected) {
  const std::string tail = message_tail({0, "r", "u", "n", "body", 5});
  proto::ChatMessage out;
  EXPECT_TRUE(parse_message("m1:1" + tail, "r", out));
  EXPECT_TRUE(parse_message("m16:9007199254740991" + tail, "r", out));
  EXPECT_FALSE(parse_message("m16:9007199254740992" + tail, "r", out));
  EXPECT_FALSE(parse_message("m19:9223372036854775807" + tail, "r", out));
  EXPECT_FALSE(parse_message("m1:0" + tail, "r", out));
  EXPECT_FALSE(valid_message_id(-5));
}

TEST(ClusterWire, PresencePayloadCarriesJoinsAndLeaves) {
  ClusterMeta a{"", "alice", {"F1.0.1", 11, "Alice", "laptop"}};
  ClusterMeta b{"", "bob", {"F1.0.2", 12, "Bob", ""}};
  std::string p = presence_payload("node-a", {a}, {b});
  std::vector<ClusterMeta> joins, leaves;
  std::string node;
  ASSERT_TRUE(parse_presence(p, joins, leaves, node));
  EXPECT_EQ(node, "node-a");
  ASSERT_EQ(joins.size(), 1u);
  ASSERT_EQ(leaves.size(), 1u);
  EXPECT_EQ(joins[0].user_id, "alice");
  EXPECT_EQ(joins[0].meta, a.meta);
  EXPECT_EQ(joins[0].node, "node-a");
  EXPECT_EQ(leaves[0].meta, b.meta);
  EXPECT_FALSE(parse_presence(p.substr(0, p.size() - 1), joins, leaves, node));
}

TEST(ClusterWire, PresenceHashEntryRoundTrips) {
  ClusterMeta m{"n1", "carol", {"F9.1.3", 99, "Carol|x", "phone"}};
  ClusterMeta out;
  ASSERT_TRUE(parse_presence_entry(presence_field("n1", m.meta.phx_ref()), presence_value(m), out));
  EXPECT_EQ(out.node, "n1");
  EXPECT_EQ(out.user_id, "carol");
  EXPECT_EQ(out.meta, m.meta);
  EXPECT_FALSE(parse_presence_entry("no-bar", presence_value(m), out));
}

TEST(ClusterWire, TypingRoundTrips) {
  std::string node, uid, name;
  ASSERT_TRUE(parse_typing(typing_payload("n2", "dan", "Dan"), node, uid, name));
  EXPECT_EQ(node, "n2");
  EXPECT_EQ(uid, "dan");
  EXPECT_EQ(name, "Dan");
  EXPECT_FALSE(parse_typing("t1:n", node, uid, name));
}

}  // namespace
}  // namespace rtchat::server::cluster

namespace rtchat::server::cluster {
namespace {

TEST(ClusterWire, LossNoticeRoundTripsAndIsNotADisconnect) {
  std::string node;
  ASSERT_TRUE(parse_loss(loss_payload("node-a"), node));
  EXPECT_EQ(node, "node-a");
  std::string user, reason;
  EXPECT_FALSE(parse_disconnect(loss_payload("node-a"), node, user, reason));
  EXPECT_FALSE(parse_loss(disconnect_payload("n", "u", "r"), node));
  EXPECT_FALSE(parse_loss("l7:node-a", node));
  EXPECT_FALSE(parse_loss(loss_payload("a") + "x", node));
}

TEST(ClusterWire, KeysOfOneRedisAreUnchanged) {
  Keys k(false);
  EXPECT_EQ(k.seq("lobby"), "rtchat:seq:lobby");
  EXPECT_EQ(k.channel("lobby"), "rtchat:chan:lobby");
  std::string room;
  ASSERT_TRUE(k.room_of_channel("rtchat:chan:a{b}", room));
  EXPECT_EQ(room, "a{b}");
  EXPECT_FALSE(k.room_of_channel("other:a", room));
}

TEST(ClusterWire, KeysOfARedisClusterTagTheRoom) {
  Keys k(true);
  EXPECT_EQ(k.seq("lobby"), "rtchat:seq:{lobby}");
  EXPECT_EQ(k.log("lobby"), "rtchat:log:{lobby}");
  EXPECT_EQ(k.presence("lobby"), "rtchat:pres:{lobby}");
  EXPECT_EQ(k.node("a"), "rtchat:node:a");  // liveness keys spread over the slots
  std::string room;
  ASSERT_TRUE(k.room_of_channel("rtchat:chan:{lobby}", room));
  EXPECT_EQ(room, "lobby");
  ASSERT_TRUE(k.room_of_presence("rtchat:pres:{x}y}", room));
  EXPECT_EQ(room, "x}y");
  EXPECT_FALSE(k.room_of_channel("rtchat:chan:lobby", room));
  EXPECT_FALSE(k.room_of_channel("rtchat:chan:{", room));
}

}  // namespace
}  // namespace rtchat::server::cluster
