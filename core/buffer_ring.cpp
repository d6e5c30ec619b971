#include "core/buffer_ring.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rtchat::core {

BufferRing::BufferRing(io_uring* ring, uint16_t group_id, uint32_t count, uint32_t buffer_bytes,
                       uint32_t floor)
    : ring_(ring),
      count_(count),
      buffer_bytes_(buffer_bytes),
      group_id_(group_id),
      floor_(std::clamp<uint32_t>(floor, 1, count)),
      level_(floor_) {
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
  spare_.reserve(count);
  for (uint32_t i = count; i > 0; --i) spare_.push_back(static_cast<uint16_t>(i - 1));
  publish();
}

BufferRing::~BufferRing() {
  io_uring_unregister_buf_ring(ring_, group_id_);
  munmap(br_, ring_bytes_);
  std::free(data_);
}

void BufferRing::recycle(uint16_t bid) {
  --in_ring_;
  spare_.push_back(bid);
}

void BufferRing::release_pages() {
  madvise(data_, size_t{count_} * buffer_bytes_, MADV_DONTNEED);
  level_ = floor_;
}

void BufferRing::publish() {
  if (ran_dry_) {
    level_ = std::min(count_, level_ * 2);
    ran_dry_ = false;
  }
  while (in_ring_ < level_ && !spare_.empty()) {
    const uint16_t bid = spare_.back();
    spare_.pop_back();
    io_uring_buf_ring_add(br_, data_ + size_t{bid} * buffer_bytes_, buffer_bytes_, bid,
                          io_uring_buf_ring_mask(count_), pending_);
    ++pending_;
    ++in_ring_;
  }
  if (pending_ > 0) {
    io_uring_buf_ring_advance(br_, pending_);
    pending_ = 0;
  }
}

}  // namespace rtchat::core
