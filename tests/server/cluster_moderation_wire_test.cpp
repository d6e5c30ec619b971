// Cluster payloads of issue 16: a delete event's target travels after the message fields (older
// nodes' messages, without it, still parse), and the node-wide disconnect command.
#include <gtest/gtest.h>

#include <string>

#include "server/cluster/cluster_wire.h"

namespace rtchat::server::cluster {
namespace {

TEST(ClusterModerationWire, DeleteEventTailRoundTrips) {
  proto::ChatMessage e{0, "lobby", "mod", "Mod", "", 1700000000000, false, 42};
  std::string payload = "m";
  append_lp(payload, int64_t{43});
  payload += message_tail(e);
  proto::ChatMessage out;
  ASSERT_TRUE(parse_message(payload, "lobby", out));
  EXPECT_EQ(out.id, 43);
  EXPECT_EQ(out.delete_target, 42);
  EXPECT_EQ(out.user_id, "mod");

  proto::ChatMessage plain{0, "lobby", "u1", "U1", "hi", 5, false, 0};
  payload = "m";
  append_lp(payload, int64_t{7});
  payload += message_tail(plain);
  ASSERT_TRUE(parse_message(payload, "lobby", out));
  EXPECT_EQ(out.delete_target, 0);  // the message format of nodes before moderation
  EXPECT_EQ(out.body, "hi");
  EXPECT_FALSE(parse_message(payload + "x", "lobby", out));  // trailing garbage
}

TEST(ClusterModerationWire, DisconnectPayloadRoundTrips) {
  const std::string p = disconnect_payload("node-a", "eve:1", "disconnected by server: spam");
  std::string node, user, reason;
  ASSERT_TRUE(parse_disconnect(p, node, user, reason));
  EXPECT_EQ(node, "node-a");
  EXPECT_EQ(user, "eve:1");
  EXPECT_EQ(reason, "disconnected by server: spam");
  EXPECT_FALSE(parse_disconnect("t" + p.substr(1), node, user, reason));
  EXPECT_FALSE(parse_disconnect(p.substr(0, p.size() - 1), node, user, reason));
}

}  // namespace
}  // namespace rtchat::server::cluster
