#include "core/buffer_ring.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <vector>

#include "core/ring.h"

namespace rtchat::core {
namespace {

constexpr uint16_t kGroup = 7;

// A real ring and a datagram socket pair: each datagram written is one recv completion, so the
// test sees exactly which buffer the kernel picked for each.
struct Rig {
  Ring ring{RingConfig{64, 64}};
  int fds[2] = {-1, -1};
  Rig() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0); }
  ~Rig() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void arm_recv() {
    io_uring_sqe* sqe = ring.sqe();
    io_uring_prep_recv_multishot(sqe, fds[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_sqe_set_data64(sqe, 1);
  }
  void write(int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(::send(fds[1], "hello", 5, 0), 5);
  }
  // Reaps what is ready: the buffer ids filled, and whether the recv ended for want of one.
  std::vector<uint16_t> reap(BufferRing& buffers, bool& ran_dry) {
    ring.submit_and_wait(100);
    std::vector<uint16_t> bids;
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(ring.get(), &cqe) == 0) {
      if (cqe->flags & IORING_CQE_F_BUFFER) {
        auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        EXPECT_EQ(buffers.view(bid, 5).size(), 5u);
        bids.push_back(bid);
        buffers.recycle(bid);
      }
      if (cqe->res == -ENOBUFS) {
        ran_dry = true;
        buffers.ran_dry();
      }
      io_uring_cqe_seen(ring.get(), cqe);
    }
    buffers.publish();
    return bids;
  }
  // One datagram at a time, `rounds` times, each reaped before the next: the buffers used.
  std::set<uint16_t> trickle(BufferRing& buffers, int rounds) {
    arm_recv();
    std::set<uint16_t> seen;
    for (int round = 0; round < rounds; ++round) {
      write(1);
      bool dry = false;
      for (uint16_t bid : reap(buffers, dry)) seen.insert(bid);
      EXPECT_FALSE(dry);
    }
    return seen;
  }
};

// The point of the floor: a trickle of input keeps touching the same few buffers (their pages
// stay the only resident ones), instead of walking the whole ring.
TEST(BufferRing, TrickleReusesOnlyTheFloorsBuffers) {
  Rig rig;
  BufferRing buffers(rig.ring.get(), kGroup, 64, 256, 4);
  EXPECT_EQ(buffers.in_ring(), 4u);
  const std::set<uint16_t> seen = rig.trickle(buffers, 40);
  EXPECT_LE(seen.size(), 4u);
  EXPECT_GE(seen.size(), 1u);
  EXPECT_EQ(buffers.in_ring(), 4u);
}

// Without a floor (the load tool's ring) every buffer is in the ring and a trickle walks them all:
// what the floor avoids.
TEST(BufferRing, WithoutAFloorATrickleWalksEveryBuffer) {
  Rig rig;
  BufferRing buffers(rig.ring.get(), kGroup, 16, 256);
  EXPECT_EQ(buffers.in_ring(), 16u);
  EXPECT_EQ(rig.trickle(buffers, 40).size(), 16u);
}

// A burst larger than the ring runs it dry: the level doubles (once per publish, however many
// recvs saw it empty), up to the count; releasing the pages brings it back to the floor.
TEST(BufferRing, RunningDryDoublesTheLevelAndReleaseRestoresTheFloor) {
  Rig rig;
  BufferRing buffers(rig.ring.get(), kGroup, 16, 256, 2);
  rig.arm_recv();
  rig.write(5);
  bool dry = false;
  auto bids = rig.reap(buffers, dry);
  EXPECT_TRUE(dry);
  EXPECT_EQ(bids.size(), 2u);  // only two buffers were in the ring
  EXPECT_EQ(buffers.level(), 4u);
  EXPECT_EQ(buffers.in_ring(), 4u);

  // Each round re-arms the recv (it ended with ENOBUFS, as the reactor does) and sends one more
  // datagram than the ring holds; the three datagrams left from the first burst are read first.
  size_t unread = 3;
  for (int round = 0; round < 3; ++round) {
    rig.arm_recv();
    rig.write(static_cast<int>(buffers.level()) + 1);
    unread += buffers.level() + 1;
    dry = false;
    unread -= rig.reap(buffers, dry).size();
    EXPECT_TRUE(dry);
  }
  EXPECT_EQ(buffers.level(), 16u);
  EXPECT_EQ(buffers.in_ring(), 16u);

  buffers.release_pages();
  EXPECT_EQ(buffers.level(), 2u);
  // Buffers already in the ring stay until the kernel fills them; recycled ones stop going back
  // while the ring holds more than the floor.
  rig.arm_recv();
  dry = false;
  bids = rig.reap(buffers, dry);
  EXPECT_EQ(bids.size(), std::min<size_t>(unread, 16));
  EXPECT_EQ(buffers.in_ring(), std::max<size_t>(2, 16 - bids.size()));
}

}  // namespace
}  // namespace rtchat::core
