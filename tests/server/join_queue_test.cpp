#include "server/shard/join_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace rtchat::server {
namespace {

JoinRoom join_of(uint32_t conn, JoinId id) {
  JoinRoom j;
  j.room = "r";
  j.conn = ConnRef{conn % 2, conn, conn / 3 + 1};
  j.join_id = id;
  return j;
}

std::vector<JoinId> ids(const std::vector<JoinRoom>& joins) {
  std::vector<JoinId> out;
  for (const auto& j : joins) out.push_back(j.join_id);
  return out;
}

// A leave cancels its connection's joins queued before it, never one queued after it (a leave
// then a rejoin in one turn keeps the rejoin), whether the queue is scanned or only marked.
TEST(JoinQueue, LeaveCancelsOnlyEarlierJoinsOfItsConnection) {
  for (uint32_t filler : {0u, 100u}) {  // a short queue (scan) and a long one (marks)
    JoinQueue q;
    JoinId id = 1;
    for (uint32_t i = 0; i < filler; ++i) q.push_back(join_of(1000 + i, 1000 + i));
    q.push_back(join_of(1, id++));  // 1: cancelled by the leave below
    q.push_back(join_of(2, id++));  // 2: kept
    q.cancel(join_of(1, 0).conn);
    q.push_back(join_of(1, id++));  // 3: the rejoin, kept
    q.cancel(join_of(7, 0).conn);   // a connection with nothing queued
    const std::vector<JoinRoom> taken = q.take();
    const std::vector<JoinId> all = ids(taken);
    const std::vector<JoinId> tail(all.end() - 2, all.end());
    EXPECT_EQ(tail, (std::vector<JoinId>{2, 3})) << filler;
    EXPECT_EQ(taken.size(), filler + 2);
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.take().empty());
  }
}

// Random joins and leaves against the plain rule (erase the connection's queued joins at once).
TEST(JoinQueue, RandomJoinsAndLeavesMatchEraseAtOnce) {
  std::mt19937 rng(3);
  for (int round = 0; round < 50; ++round) {
    JoinQueue q;
    std::vector<JoinRoom> model;
    const int steps = 1 + static_cast<int>(rng() % 400);
    JoinId id = 1;
    for (int s = 0; s < steps; ++s) {
      const uint32_t conn = rng() % 60;
      if (rng() % 3) {
        q.push_back(join_of(conn, id));
        model.push_back(join_of(conn, id));
        ++id;
      } else {
        const ConnRef c = join_of(conn, 0).conn;
        q.cancel(c);
        std::erase_if(model, [&](const JoinRoom& j) { return j.conn == c; });
      }
    }
    ASSERT_EQ(ids(q.take()), ids(model)) << round;
  }
}

// A mass leave during a mass join: each leave is a mark, not a scan of the queue.
TEST(JoinQueue, MassLeaveOfQueuedJoins) {
  JoinQueue q;
  for (uint32_t i = 0; i < 20000; ++i) q.push_back(join_of(i, i + 1));
  for (uint32_t i = 0; i < 20000; i += 2) q.cancel(join_of(i, 0).conn);
  const std::vector<JoinRoom> taken = q.take();
  ASSERT_EQ(taken.size(), 10000u);
  for (const auto& j : taken) EXPECT_EQ(j.conn.slot % 2, 1u);
}

}  // namespace
}  // namespace rtchat::server
