#include "core/buffer_ring.h"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace rtchat::core {

BufferRing::BufferRing(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes)
    : ring_(ring), count_(count), buffer_bytes_(buffer_bytes), group_id_(group_id) {
  ring_bytes_ = sizeof(io_uring_buf) * count;
  void* mem =
      mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) throw std::runtime_error("mmap buffer ring failed");
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  int rc = io_uring_register_buf_ring(ring_, &reg, 0);
  if (rc < 0) {
    munmap(br_, ring_bytes_);
    throw std::runtime_error(std::string("io_uring_register_buf_ring: ") + std::strerror(-rc));
  }
  data_ = static_cast<std::byte*>(std::aligned_alloc(4096, size_t{count} * buffer_bytes));
  if (data_ == nullptr) throw std::runtime_error("buffer ring allocation failed");
  for (uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(br_, data_ + size_t{i} * buffer_bytes, buffer_bytes,
                          static_cast<unsigned short>(i), io_uring_buf_ring_mask(count),
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(count));
}

BufferRing::~BufferRing() {
  io_uring_unregister_buf_ring(ring_, group_id_);
  munmap(br_, ring_bytes_);
  std::free(data_);
}

void BufferRing::recycle(uint16_t bid) {
  io_uring_buf_ring_add(br_, data_ + size_t{bid} * buffer_bytes_, buffer_bytes_, bid,
                        io_uring_buf_ring_mask(count_), pending_);
  ++pending_;
}

void BufferRing::release_pages() { madvise(data_, size_t{count_} * buffer_bytes_, MADV_DONTNEED); }

void BufferRing::publish() {
  if (pending_ > 0) {
    io_uring_buf_ring_advance(br_, pending_);
    pending_ = 0;
  }
}

}  // namespace rtchat::core
