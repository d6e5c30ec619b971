#include "server/join_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::server {
namespace {

TEST(JoinLimiter, AllowsABurstOfFiveThenOneEveryTwoSeconds) {
  JoinLimiter l;
  int64_t now = 1'000'000;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.try_join("room:a", now)) << i;
  EXPECT_FALSE(l.try_join("room:a", now));
  EXPECT_FALSE(l.try_join("room:a", now + 1999));
  EXPECT_TRUE(l.try_join("room:a", now + 2000));
  EXPECT_FALSE(l.try_join("room:a", now + 2000));
  EXPECT_TRUE(l.try_join("room:a", now + 4000));
}

TEST(JoinLimiter, RefusedJoinsDoNotCount) {
  JoinLimiter l;
  int64_t now = 0;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.try_join("room:a", now));
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(l.try_join("room:a", now + 1000));
  EXPECT_TRUE(l.try_join("room:a", now + 2000));
}

TEST(JoinLimiter, SteadyRateIsOneEveryTwoSeconds) {
  JoinLimiter l;
  int allowed = 0;
  // A join attempt every 50 ms (the push limit) for 60 s.
  for (int64_t t = 0; t < 60'000; t += 50) allowed += l.try_join("room:a", t) ? 1 : 0;
  EXPECT_EQ(allowed, 5 + 60'000 / 2000 - 1);  // the burst, then one per 2 s after the first 2 s
}

TEST(JoinLimiter, TopicsHaveTheirOwnBudgets) {
  JoinLimiter l;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.try_join("room:a", 0));
  EXPECT_FALSE(l.try_join("room:a", 0));
  EXPECT_TRUE(l.try_join("room:b", 0));
}

TEST(JoinLimiter, QuietTopicsAreForgottenSoMemoryStaysBounded) {
  JoinLimiter l;
  for (int i = 0; i < 1000; ++i) {
    // One new topic every 100 ms: entries expire 2 s after their single join.
    ASSERT_TRUE(l.try_join("room:" + std::to_string(i), int64_t{i} * 100)) << i;
  }
  EXPECT_LE(l.tracked_topics(), 21u);
}

TEST(JoinLimiter, TooManyLiveTopicsRefusesNewOnesUntilTheyExpire) {
  JoinLimiter l;
  for (size_t i = 0; i < JoinLimiter::kMaxTopics; ++i) {
    ASSERT_TRUE(l.try_join("room:" + std::to_string(i), 0));
  }
  EXPECT_FALSE(l.try_join("room:new", 0));
  EXPECT_TRUE(l.try_join("room:0", 0));  // a tracked topic keeps its own budget
  EXPECT_TRUE(l.try_join("room:new", JoinLimiter::kEveryMs * JoinLimiter::kBurst));
  EXPECT_EQ(l.tracked_topics(), 1u);
}

}  // namespace
}  // namespace rtchat::server
