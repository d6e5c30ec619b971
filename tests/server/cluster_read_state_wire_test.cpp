// The read-state payload a node publishes on a room's channel after a mark (issue 16): round trip,
// and anything malformed is refused rather than applied.
#include <gtest/gtest.h>

#include <string>

#include "server/cluster/cluster_wire.h"

namespace rtchat::server::cluster {
namespace {

TEST(ClusterReadStateWire, RoundTrips) {
  std::string node, user;
  int64_t id = -1;
  ASSERT_TRUE(parse_read_state(read_state_payload("n1", "ann", 42), node, user, id));
  EXPECT_EQ(node, "n1");
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(id, 42);
}

TEST(ClusterReadStateWire, RefusesMalformedPayloads) {
  std::string node, user;
  int64_t id = 0;
  EXPECT_FALSE(parse_read_state("", node, user, id));
  EXPECT_FALSE(parse_read_state(read_state_payload("n1", "ann", -3), node, user, id));
  EXPECT_FALSE(parse_read_state(read_state_payload("n1", "ann", 4) + "x", node, user, id));
  std::string typing = read_state_payload("n1", "ann", 4);
  typing[0] = 't';
  EXPECT_FALSE(parse_read_state(typing, node, user, id));
  EXPECT_FALSE(parse_read_state("r2:n1", node, user, id));
}

}  // namespace
}  // namespace rtchat::server::cluster
