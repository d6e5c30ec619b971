// The Redis Cluster slot router's pure pieces: CRC16 key slots (vectors from the Redis Cluster
// specification), seed URLs, the CLUSTER SLOTS reply, MOVED/ASK errors.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>

#include "server/cluster/cluster_router.h"
#include "server/cluster/redis_reply.h"
#include "server/cluster/slot_map.h"

namespace rtchat::server::cluster {
namespace {

// A reply as hiredis would build it from RESP bytes.
RedisReplyPtr parse_resp(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, resp.data(), resp.size());
  void* raw = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &raw), REDIS_OK);
  redisReaderFree(reader);
  return RedisReplyPtr(static_cast<redisReply*>(raw));
}

TEST(SlotMap, Crc16MatchesTheSpecification) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the spec's check value
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(key_slot("{user1000}.followers"), 3443);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(SlotMap, HashTagsFollowTheFirstBraces) {
  EXPECT_EQ(key_slot("rtchat:seq:{lobby}"), key_slot("lobby"));
  EXPECT_EQ(key_slot("rtchat:log:{lobby}"), key_slot("rtchat:chan:{lobby}"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));  // empty tag: the whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
}

TEST(SlotMap, ParsesSeedUrls) {
  std::vector<RedisAddress> seeds;
  bool cluster = false;
  ASSERT_TRUE(
      parse_backend_url("redis-cluster://127.0.0.1:7000,10.0.0.2:7001,host", seeds, cluster));
  EXPECT_TRUE(cluster);
  ASSERT_EQ(seeds.size(), 3u);
  EXPECT_EQ(seeds[0], (RedisAddress{"127.0.0.1", 7000}));
  EXPECT_EQ(seeds[2], (RedisAddress{"host", 6379}));
  ASSERT_TRUE(parse_backend_url("redis://127.0.0.1:6380/", seeds, cluster));
  EXPECT_FALSE(cluster);
  EXPECT_EQ(seeds, (std::vector<RedisAddress>{{"127.0.0.1", 6380}}));
  for (const char* bad : {"redis-cluster://", "redis-cluster://a:0", "redis-cluster://a:1,,b:2",
                          "redis-cluster://a:x", "redis://a:1,b:2", "http://a:1", "redis://"}) {
    EXPECT_FALSE(parse_backend_url(bad, seeds, cluster)) << bad;
  }
}

TEST(SlotMap, LoadsClusterSlots) {
  // Two masters, one with two ranges; a replica entry per range; an unknown own address ("").
  auto r = parse_resp(
      "*3\r\n"
      "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nrp\r\n"
      "*3\r\n:5461\r\n:16383\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n"
      "*3\r\n:100\r\n:100\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n");
  SlotMap m;
  ASSERT_TRUE(m.load(r.get(), "seed-host"));
  ASSERT_EQ(m.masters().size(), 2u);
  EXPECT_EQ(m.masters()[1], (RedisAddress{"seed-host", 7001}));
  EXPECT_EQ(m.owner(0), 0);
  EXPECT_EQ(m.owner(5460), 0);
  EXPECT_EQ(m.owner(5461), 1);
  EXPECT_EQ(m.owner(16383), 1);
  EXPECT_EQ(m.owner(16384), -1);
  EXPECT_TRUE(m.complete());
}

TEST(SlotMap, IncompleteOrMalformedMaps) {
  SlotMap m;
  auto partial = parse_resp("*1\r\n*3\r\n:0\r\n:99\r\n*2\r\n$1\r\nh\r\n:1\r\n");
  ASSERT_TRUE(m.load(partial.get(), "x"));
  EXPECT_FALSE(m.complete());
  EXPECT_EQ(m.owner(100), -1);
  for (const char* bad : {"*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                          "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                          "*1\r\n*2\r\n:0\r\n:1\r\n", "$2\r\nno\r\n", "*1\r\n:1\r\n"}) {
    auto r = parse_resp(bad);
    EXPECT_FALSE(m.load(r.get(), "x")) << bad;
  }
  EXPECT_FALSE(m.load(nullptr, "x"));
  EXPECT_EQ(m.masters().size(), 1u);  // unchanged by the failures
}

TEST(SlotMap, ParsesRedirects) {
  Redirect r;
  ASSERT_TRUE(parse_redirect("MOVED 3999 127.0.0.1:6381", r));
  EXPECT_FALSE(r.ask);
  EXPECT_EQ(r.slot, 3999);
  EXPECT_EQ(r.to, (RedisAddress{"127.0.0.1", 6381}));
  ASSERT_TRUE(parse_redirect("ASK 0 h:1", r));
  EXPECT_TRUE(r.ask);
  EXPECT_FALSE(parse_redirect("MOVED 16384 h:1", r));
  EXPECT_FALSE(parse_redirect("ERR wrong", r));
  EXPECT_FALSE(parse_redirect("MOVED 12", r));
}

}  // namespace
}  // namespace rtchat::server::cluster
