#include "core/mailbox.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/doorbell.h"

namespace rtchat::core {
namespace {

// core::Mailbox wraps moodycamel::ReaderWriterQueue (Debian); these tests pin the contract the
// shards rely on: FIFO, bounded (a full push fails and keeps the value), move-only values, and
// safe hand-over between two threads.
template <typename T>
struct Box {
  Doorbell bell;
  Mailbox<T> q;
  explicit Box(size_t n) : q(n, bell) {}
  bool try_push(T&& v) { return q.try_push(std::move(v)); }
  bool try_pop(T& v) { return q.try_pop(v); }
  size_t size_approx() const { return q.size_approx(); }
};

TEST(Mailbox, PopsInPushOrder) {
  Box<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.try_push(int{i}));
  int v = -1;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(q.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.try_pop(v));
}

TEST(Mailbox, PushFailsWhenFullAndKeepsTheValue) {
  Box<std::unique_ptr<int>> q(4);
  int pushed = 0;
  while (q.try_push(std::make_unique<int>(pushed))) ++pushed;
  EXPECT_GE(pushed, 4) << "at least the requested capacity";
  EXPECT_LT(pushed, 64) << "bounded: no allocation on push";
  auto extra = std::make_unique<int>(99);
  EXPECT_FALSE(q.try_push(std::move(extra)));
  ASSERT_NE(extra, nullptr) << "a refused push must not consume the value";
  std::unique_ptr<int> out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(*out, 0);
  EXPECT_TRUE(q.try_push(std::move(extra)));
}

TEST(Mailbox, DestroysValuesLeftInside) {
  auto token = std::make_shared<int>(1);
  {
    Box<std::shared_ptr<int>> q(8);
    ASSERT_TRUE(q.try_push(std::shared_ptr<int>(token)));
    ASSERT_TRUE(q.try_push(std::shared_ptr<int>(token)));
    EXPECT_EQ(token.use_count(), 3);
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Mailbox, TwoThreadStressKeepsEveryValueInOrder) {
  constexpr uint64_t kCount = 2'000'000;
  Box<uint64_t> q(1024);
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount;) {
      if (q.try_push(uint64_t{i})) ++i;
    }
  });
  uint64_t expected = 0, v = 0;
  while (expected < kCount) {
    if (q.try_pop(v)) {
      ASSERT_EQ(v, expected);
      ++expected;
    }
  }
  producer.join();
  EXPECT_EQ(q.size_approx(), 0u);
}

TEST(Outbox, FullMailboxNeverDropsAndKeepsOrder) {
  Doorbell bell;
  Mailbox<int> box(4, bell);
  Outbox<int> out(box);
  for (int i = 0; i < 20; ++i) out.send(int{i});
  EXPECT_GT(out.backlog(), 0u) << "what does not fit waits in the backlog";
  std::vector<int> got;
  int v;
  while (got.size() < 20) {
    out.flush();
    while (box.try_pop(v)) got.push_back(v);
  }
  EXPECT_EQ(out.backlog(), 0u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
}

TEST(Doorbell, RingWakesOnlyASleepingConsumer) {
  Doorbell bell;
  bell.ring();  // consumer awake: no signal
  uint64_t value = 0;
  EXPECT_LT(::read(bell.fd(), &value, sizeof value), 0);
  bell.prepare_sleep();
  bell.ring();
  bell.ring();  // only the first producer signals
  EXPECT_EQ(::read(bell.fd(), &value, sizeof value), static_cast<ssize_t>(sizeof value));
  EXPECT_EQ(value, 1u);
}

}  // namespace
}  // namespace rtchat::core

namespace rtchat::core {
namespace {

TEST(Doorbell, SleepUnlessPendingBlocksOnlyWhenNothingIsPending) {
  Doorbell bell;
  int blocked = 0;
  EXPECT_FALSE(bell.sleep_unless_pending([] { return false; }, [&] { ++blocked; }));
  EXPECT_EQ(blocked, 0);
  EXPECT_TRUE(bell.sleep_unless_pending([] { return true; }, [&] { ++blocked; }));
  EXPECT_EQ(blocked, 1);
}

TEST(Doorbell, AProducerRingingDuringTheSleepWakesTheWait) {
  Doorbell bell;
  // The producer rings between the announcement and the wait: the eventfd is written, so the
  // wait returns at once instead of sleeping out its timeout.
  auto t0 = std::chrono::steady_clock::now();
  bell.sleep_unless_pending(
      [&] {
        bell.ring();
        return true;
      },
      [&] { bell.wait(5000); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace rtchat::core
