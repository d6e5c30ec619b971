#include "server/shard/join_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::server {
namespace {

KeyedRateLimit per_topic() {
  return KeyedRateLimit(kTopicJoinBurst, kTopicJoinEveryMs, kMaxTrackedTopics);
}

TEST(KeyedRateLimit, AllowsABurstOfFiveThenOneEveryTwoSeconds) {
  KeyedRateLimit l = per_topic();
  int64_t now = 1'000'000;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.try_take("room:a", now)) << i;
  EXPECT_FALSE(l.try_take("room:a", now));
  EXPECT_FALSE(l.try_take("room:a", now + 1999));
  EXPECT_TRUE(l.try_take("room:a", now + 2000));
  EXPECT_FALSE(l.try_take("room:a", now + 2000));
  EXPECT_TRUE(l.try_take("room:a", now + 4000));
}

TEST(KeyedRateLimit, RefusedTakesDoNotCount) {
  KeyedRateLimit l = per_topic();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.try_take("room:a", 0));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(l.try_take("room:a", 1000));
  EXPECT_TRUE(l.try_take("room:a", 2000));
}

TEST(KeyedRateLimit, SteadyRateIsOneEveryInterval) {
  KeyedRateLimit l = per_topic();
  int allowed = 0;
  // A join attempt every 50 ms (the push limit) for 60 s.
  for (int64_t t = 0; t < 60'000; t += 50) allowed += l.try_take("room:a", t) ? 1 : 0;
  EXPECT_EQ(allowed, 5 + 60'000 / 2000 - 1);  // the burst, then one per 2 s after the first 2 s

  KeyedRateLimit user(kUserJoinBurst, kUserJoinEveryMs);
  allowed = 0;
  for (int64_t t = 0; t < 60'000; t += 50) allowed += user.try_take("mallory", t) ? 1 : 0;
  EXPECT_EQ(allowed, 16 + 60 - 1);
}

TEST(KeyedRateLimit, KeysHaveTheirOwnBudgets) {
  KeyedRateLimit l = per_topic();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.try_take("room:a", 0));
  EXPECT_FALSE(l.try_take("room:a", 0));
  EXPECT_TRUE(l.try_take("room:b", 0));
}

// A bucket kept outside the table (RoomOwner keeps a present user's in their records) follows
// the same rule, and moves in and out of the table whole.
TEST(KeyedRateLimit, BucketKeptOutsideMovesInAndOutWhole) {
  KeyedRateLimit l = per_topic();
  int64_t outside = 0;  // a full bucket
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.take(outside, 0));
  EXPECT_FALSE(l.take(outside, 0));
  EXPECT_EQ(l.tracked_keys(), 0u);
  l.put_back("room:a", outside, 0);
  EXPECT_FALSE(l.try_take("room:a", 0));  // the spent budget came with it
  EXPECT_EQ(l.take_out("room:a"), outside);
  EXPECT_FALSE(l.tracks("room:a"));
  EXPECT_EQ(l.take_out("room:a"), 0);
  l.put_back("room:b", 2000, 2000);  // full again by now: the same as no entry
  EXPECT_FALSE(l.tracks("room:b"));
  KeyedRateLimit capped(5, 2000, 1);
  capped.put_back("room:c", 9000, 0);
  capped.put_back("room:d", 9000, 0);  // past max_keys: not kept (looser, never stricter)
  EXPECT_TRUE(capped.tracks("room:c"));
  EXPECT_FALSE(capped.tracks("room:d"));
}

TEST(KeyedRateLimit, QuietKeysAreForgottenSoMemoryStaysBounded) {
  KeyedRateLimit l = per_topic();
  for (int i = 0; i < 10'000; ++i) {
    // One new topic every 100 ms: entries expire 2 s after their single join (20 live at most);
    // amortised pruning keeps at most twice that, and never fewer than 16, plus one.
    ASSERT_TRUE(l.try_take("room:" + std::to_string(i), int64_t{i} * 100)) << i;
    ASSERT_LE(l.tracked_keys(), 41u) << i;
  }
}

TEST(KeyedRateLimit, TooManyLiveKeysRefusesNewOnesUntilTheyExpire) {
  KeyedRateLimit l = per_topic();
  for (size_t i = 0; i < kMaxTrackedTopics; ++i) {
    ASSERT_TRUE(l.try_take("room:" + std::to_string(i), 0));
  }
  EXPECT_FALSE(l.try_take("room:new", 0));
  EXPECT_TRUE(l.try_take("room:0", 0));  // a tracked key keeps its own budget
  EXPECT_TRUE(l.try_take("room:new", kTopicJoinEveryMs * kTopicJoinBurst));
  EXPECT_EQ(l.tracked_keys(), 1u);
}

// The inline budgets must limit exactly like the table: each topic, inline or in the overflow
// table, gets its burst of five then one every two seconds, whatever the others do.
TEST(TopicJoinBudgets, EveryTopicInlineOrNotHasTheSameBudget) {
  TopicJoinBudgets b;
  const int64_t now = 1'000'000;
  const std::string topics[] = {"room:a", "room:b", "room:c", "room:d"};
  for (const auto& t : topics) {
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(t, now)) << t << " " << i;
    EXPECT_FALSE(b.try_take(t, now)) << t;
  }
  EXPECT_TRUE(b.has_table());  // two topics inline, the others in the table
  for (const auto& t : topics) {
    EXPECT_FALSE(b.try_take(t, now + 1999)) << t;
    EXPECT_TRUE(b.try_take(t, now + 2000)) << t;
    EXPECT_FALSE(b.try_take(t, now + 2000)) << t;
  }
}

TEST(TopicJoinBudgets, OneOrTwoTopicsNeedNoTableAndAFullBucketFreesItsSlot) {
  TopicJoinBudgets b;
  int64_t now = 0;
  EXPECT_TRUE(b.try_take("room:a", now));
  EXPECT_TRUE(b.try_take("room:b", now));
  EXPECT_FALSE(b.has_table());
  now += 5 * kTopicJoinEveryMs;  // both buckets full again: their slots are free
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take("room:c", now)) << i;
  EXPECT_TRUE(b.try_take("room:d", now));
  EXPECT_FALSE(b.has_table());
  EXPECT_FALSE(b.try_take("room:c", now));  // c kept its own spent budget
  EXPECT_TRUE(b.try_take("room:e", now));   // a third live topic: the table
  EXPECT_TRUE(b.has_table());
  b.prune(now + 5 * kTopicJoinEveryMs);
  EXPECT_FALSE(b.has_table());
}

}  // namespace
}  // namespace rtchat::server
