#include "server/shard/connection.h"

#include <gtest/gtest.h>

namespace rtchat::server {
namespace {

// A channel keeps its topic, join_ref and the join push's ref in one string: null, empty and long
// refs must come back exactly as the client sent them (phoenix.js matches replies by them), and
// the topic must not take any of their bytes.
TEST(ChannelNames, KeepsTopicNullEmptyAndValuesApart) {
  ChannelNames both("room:a", std::string("12"), std::string("345"));
  EXPECT_EQ(both.topic(), "room:a");
  EXPECT_EQ(both.join_ref(), "12");
  EXPECT_EQ(both.push_ref(), "345");
  EXPECT_TRUE(both.same_join(std::string("12")));
  EXPECT_FALSE(both.same_join(std::string("1")));
  EXPECT_FALSE(both.same_join(std::string("123")));
  EXPECT_FALSE(both.same_join(std::nullopt));

  ChannelNames no_join("room:b", std::nullopt, std::string("7"));
  EXPECT_EQ(no_join.topic(), "room:b");
  EXPECT_EQ(no_join.join_ref(), std::nullopt);
  EXPECT_EQ(no_join.push_ref(), "7");
  EXPECT_TRUE(no_join.same_join(std::nullopt));
  EXPECT_FALSE(no_join.same_join(std::string("")));

  ChannelNames empty("room:c", std::string(""), std::nullopt);
  EXPECT_EQ(empty.topic(), "room:c");
  EXPECT_EQ(empty.join_ref(), "");
  EXPECT_EQ(empty.push_ref(), std::nullopt);
  EXPECT_TRUE(empty.same_join(std::string("")));
  EXPECT_FALSE(empty.same_join(std::string("room:c")));
  EXPECT_FALSE(empty.same_join(std::nullopt));

  const std::string long_ref(64, 'r');                            // the decoders' limit
  const std::string long_topic = "room:" + std::string(64, 't');  // the longest room id
  ChannelNames longest(long_topic, long_ref, long_ref + "");
  EXPECT_EQ(longest.topic(), long_topic);
  EXPECT_EQ(longest.join_ref(), long_ref);
  EXPECT_EQ(longest.push_ref(), long_ref);
}

TEST(SocketIdentity, SubAndNameShareOneStringWithoutMixing) {
  const std::string sub(128, 's');  // proto::kMaxJwtSubBytes
  SocketIdentity id(sub, "Ann Example", 42);
  EXPECT_EQ(id.sub(), sub);
  EXPECT_EQ(id.name(), "Ann Example");
  EXPECT_EQ(id.exp, 42);
  SocketIdentity no_name("bob", "", 1);
  EXPECT_EQ(no_name.sub(), "bob");
  EXPECT_EQ(no_name.name(), "");
}

}  // namespace
}  // namespace rtchat::server
