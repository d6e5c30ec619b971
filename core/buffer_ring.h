// A provided-buffer ring shared by every connection of a shard: idle sockets hold no buffer.
//
// The kernel takes buffers from the ring in order, so a ring holding all `count` buffers walks
// through every one of them under any trickle of input (a heartbeat per socket every 30 s) and
// keeps all their pages resident: 8 MiB per shard for 2048 x 4 KiB. Only `level` buffers are in
// the ring at a time; the rest wait in a stack, most recently used on top, and refill the ring
// from that top. The level doubles when the ring runs dry (a storm) and falls back to its floor
// when the pages are released (the shard is steady), so an idle shard touches `floor` buffers.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace rtchat::core {

class BufferRing {
 public:
  // count must be a power of two (<= 32768). Registers with io_uring_register_buf_ring on
  // mmap'd memory: liburing 2.3 lacks io_uring_setup_buf_ring. floor (1..count) is the number of
  // buffers in the ring while nothing runs it dry; count keeps them all there.
  BufferRing(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes,
             uint32_t floor);
  BufferRing(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes)
      : BufferRing(ring, group_id, count, buffer_bytes, count) {}
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  BufferRing(BufferRing&&) = delete;
  BufferRing& operator=(BufferRing&&) = delete;
  ~BufferRing();

  [[nodiscard]] uint16_t group_id() const { return group_id_; }
  [[nodiscard]] std::span<const std::byte> view(uint16_t bid, size_t len) const {
    return {data_ + size_t{bid} * buffer_bytes_, len};
  }
  // A buffer the kernel filled is done with. It goes back to the ring at the next publish()
  // (once per loop turn) if the ring is below its level.
  void recycle(uint16_t bid);
  void publish();
  // A recv found the ring empty (ENOBUFS): the next publish() doubles the level (once per turn,
  // however many recvs found it empty).
  void ran_dry() { ran_dry_ = true; }
  [[nodiscard]] uint32_t level() const { return level_; }
  [[nodiscard]] uint32_t in_ring() const { return in_ring_; }
  // Gives the buffers' pages back to the kernel (they read as zeros when next filled). Only
  // between loop turns, when every buffer is the kernel's again: with DEFER_TASKRUN the kernel
  // fills buffers only inside this thread's io_uring_enter, so nothing writes them meanwhile.
  // A storm touches every page of the ring once; an idle shard need not keep them resident.
  // The level falls back to its floor.
  void release_pages();

 private:
  io_uring* ring_;
  io_uring_buf_ring* br_ = nullptr;
  std::byte* data_ = nullptr;
  size_t ring_bytes_ = 0;
  uint32_t count_;
  uint32_t buffer_bytes_;
  uint16_t group_id_;
  uint32_t floor_;
  uint32_t level_;        // buffers the ring should hold
  uint32_t in_ring_ = 0;  // buffers the ring holds (added, not yet consumed)
  int pending_ = 0;       // added since the last publish
  bool ran_dry_ = false;
  std::vector<uint16_t> spare_;  // buffers out of the ring, most recently used last
};

}  // namespace rtchat::core
