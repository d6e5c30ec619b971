#include "core/keyed_counters.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rtchat::core {
namespace {

// Two distinct user ids that fell into the same bucket of the old counters (std::hash of the key,
// low 16 bits), so that one user's sockets counted against the other's limit.
std::pair<std::string, std::string> colliding_in_old_buckets() {
  std::unordered_map<size_t, std::string> seen;
  for (int i = 0;; ++i) {
    std::string id = "user-" + std::to_string(i);
    size_t bucket = std::hash<std::string_view>{}(id)&0xFFFF;
    auto [it, inserted] = seen.emplace(bucket, id);
    if (!inserted) return {it->second, id};
  }
}

TEST(KeyedCounters, CountsUpToTheLimitPerKey) {
  KeyedCounters c;
  EXPECT_TRUE(c.try_acquire("alice", 2));
  EXPECT_TRUE(c.try_acquire("alice", 2));
  EXPECT_FALSE(c.try_acquire("alice", 2));
  EXPECT_EQ(c.count("alice"), 2u);
  c.release("alice");
  EXPECT_TRUE(c.try_acquire("alice", 2));
}

TEST(KeyedCounters, KeysThatCollidedInTheOldBucketsDoNotShareACount) {
  auto [a, b] = colliding_in_old_buckets();
  ASSERT_NE(a, b);
  ASSERT_EQ(std::hash<std::string_view>{}(a)&0xFFFF, std::hash<std::string_view>{}(b)&0xFFFF);
  KeyedCounters c;
  // a holds its whole limit: b is not locked out, and is counted on its own.
  EXPECT_TRUE(c.try_acquire(a, 1));
  EXPECT_FALSE(c.try_acquire(a, 1));
  EXPECT_TRUE(c.try_acquire(b, 1));
  EXPECT_EQ(c.count(a), 1u);
  EXPECT_EQ(c.count(b), 1u);
  c.release(b);
  EXPECT_EQ(c.count(a), 1u);
  EXPECT_EQ(c.count(b), 0u);
}

TEST(KeyedCounters, ZeroLimitCountsWithoutRefusing) {
  KeyedCounters c;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(c.try_acquire("10.0.0.1", 0));
  EXPECT_EQ(c.count("10.0.0.1"), 1000u);
}

TEST(KeyedCounters, KeysAreErasedAtZeroSoMemoryFollowsLiveAcquisitions) {
  KeyedCounters c;
  for (int i = 0; i < 10000; ++i) {
    std::string key = "u" + std::to_string(i);
    ASSERT_TRUE(c.try_acquire(key, 32));
    c.release(key);
  }
  EXPECT_EQ(c.key_count(), 0u);
  ASSERT_TRUE(c.try_acquire("kept", 32));
  EXPECT_EQ(c.key_count(), 1u);
}

TEST(KeyedCounters, ReleaseOfAnUnknownKeyChangesNothing) {
  KeyedCounters c;
  c.release("nobody");
  EXPECT_EQ(c.count("nobody"), 0u);
  EXPECT_EQ(c.key_count(), 0u);
  EXPECT_TRUE(c.try_acquire("nobody", 1));
}

TEST(KeyedCounters, ThreadsNeverPassTheLimitTogether) {
  KeyedCounters c;
  constexpr uint32_t kLimit = 32;
  std::vector<std::thread> threads;
  std::vector<int> granted(4, 0);
  for (size_t t = 0; t < granted.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) granted[t] += c.try_acquire("shared", kLimit) ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  int total = 0;
  for (int g : granted) total += g;
  EXPECT_EQ(total, static_cast<int>(kLimit));
  EXPECT_EQ(c.count("shared"), kLimit);
}

}  // namespace
}  // namespace rtchat::core
