// A provided-buffer ring shared by every connection of a shard: idle sockets hold no buffer.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace rtchat::core {

class BufferRing {
 public:
  // count must be a power of two (<= 32768). Registers with io_uring_register_buf_ring on
  // mmap'd memory: liburing 2.3 lacks io_uring_setup_buf_ring.
  BufferRing(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes);
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  BufferRing(BufferRing&&) = delete;
  BufferRing& operator=(BufferRing&&) = delete;
  ~BufferRing();

  [[nodiscard]] uint16_t group_id() const { return group_id_; }
  [[nodiscard]] std::span<const std::byte> view(uint16_t bid, size_t len) const {
    return {data_ + size_t{bid} * buffer_bytes_, len};
  }
  // Returns a buffer to the kernel. Made visible by publish() (once per loop turn).
  void recycle(uint16_t bid);
  void publish();
  // Gives the buffers' pages back to the kernel (they read as zeros when next filled). Only
  // between loop turns, when every buffer is the kernel's again: with DEFER_TASKRUN the kernel
  // fills buffers only inside this thread's io_uring_enter, so nothing writes them meanwhile.
  // A storm touches every page of the ring once; an idle shard need not keep them resident.
  void release_pages();

 private:
  io_uring* ring_;
  io_uring_buf_ring* br_ = nullptr;
  std::byte* data_ = nullptr;
  size_t ring_bytes_ = 0;
  uint32_t count_;
  uint32_t buffer_bytes_;
  uint16_t group_id_;
  int pending_ = 0;
};

}  // namespace rtchat::core
