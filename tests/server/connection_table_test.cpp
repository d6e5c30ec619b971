// The connection table without a ring: generations make stale refs miss, and the enqueue-time
// outbound cap marks a connection too slow once (closed 4008 by the shard at the end of the turn)
// while its close frame still gets through.
#include "server/shard/connection_table.h"

#include <gtest/gtest.h>

#include "server/net/ws_frame.h"
#include "support/shard_fakes.h"

namespace rtchat::server {
namespace {

struct TableFixture : ::testing::Test {
  ShardMetrics metrics;
  core::KeyedCounters per_ip;
  ConnectionTable table{3, /*outbound_cap_bytes=*/100, 10, per_ip, metrics};
};

TEST_F(TableFixture, ReleasedSlotIsReusedWithANewGeneration) {
  Connection& c = table.allocate(-1);
  const ConnRef old = c.ref;
  EXPECT_EQ(old.shard, 3u);
  c.phase = Phase::Dead;
  c.close_done = true;
  ASSERT_TRUE(table.release(c));
  Connection& d = table.allocate(-1);
  EXPECT_EQ(d.ref.slot, old.slot);
  EXPECT_EQ(table.lookup(old), nullptr) << "a stale ref misses the slot's next connection";
  EXPECT_EQ(table.lookup(d.ref), &d);
  EXPECT_EQ(table.lookup(ConnRef{4, d.ref.slot, d.ref.generation}), nullptr) << "another shard";
}

TEST_F(TableFixture, SlotWithARequestInFlightIsNotReleased) {
  Connection& c = table.allocate(-1);
  c.phase = Phase::Dead;
  c.close_done = true;
  c.send_inflight = true;
  EXPECT_FALSE(table.release(c));
  EXPECT_EQ(table.live(), 1u);
}

TEST_F(TableFixture, PastTheCapNothingMoreIsQueuedButTheCloseFrame) {
  Connection& c = table.allocate(-1);
  c.phase = Phase::WebSocket;
  table.queue_frame(c, make_ws_frame(WsOpcode::Text, std::string(60, 'a')));
  EXPECT_FALSE(c.is_too_slow);
  table.queue_frame(c, make_ws_frame(WsOpcode::Text, std::string(60, 'b')));
  EXPECT_TRUE(c.is_too_slow);
  table.queue_frame(c, make_ws_frame(WsOpcode::Text, "dropped"));
  table.queue_close_frame(c, make_close_frame(4008, "too slow"));
  auto slow = table.take_too_slow();
  ASSERT_EQ(slow.size(), 1u) << "listed once";
  EXPECT_EQ(slow[0], c.ref);
  auto frames = testing::take_frames(c);
  ASSERT_EQ(frames.size(), 3u) << "a prefix of the stream, then the close";
  EXPECT_EQ(frames[2].opcode, 0x8);
}

TEST_F(TableFixture, HeldFramesCountAgainstTheCap) {
  Connection& c = table.allocate(-1);
  c.phase = Phase::WebSocket;
  c.channels.push_back(Channel{});
  Channel& ch = c.channels.back();
  table.hold_frame(c, ch, 1, make_ws_frame(WsOpcode::Text, std::string(60, 'a')));
  table.queue_frame(c, make_ws_frame(WsOpcode::Text, std::string(60, 'b')));
  EXPECT_FALSE(c.is_too_slow);
  table.hold_frame(c, ch, 2, make_ws_frame(WsOpcode::Text, "x"));
  EXPECT_TRUE(c.is_too_slow);
  EXPECT_EQ(table.take_too_slow().size(), 1u);
}

}  // namespace
}  // namespace rtchat::server
