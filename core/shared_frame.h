// An immutable, encoded-once byte buffer shared by every recipient on every shard.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>

namespace rtchat::core {

// Crosses shards by value. The bytes never change after make(); the refcount is the only shared
// mutable state and is atomic because copies live on several shards at once. Within one shard
// prefer moving or borrowing a reference to copying (each copy is an atomic increment).
class SharedFrame {
 public:
  SharedFrame() = default;
  // Allocates size bytes; fill() runs once on the raw storage before the frame is shared.
  template <typename Fill>
  static SharedFrame make(size_t size, Fill&& fill) {
    auto* b = static_cast<Block*>(std::malloc(sizeof(Block) + size));
    if (b == nullptr) throw std::bad_alloc();
    new (&b->refs) std::atomic<uint32_t>(1);
    b->size = size;
    fill(reinterpret_cast<std::byte*>(b + 1));
    return SharedFrame(b);
  }
  static SharedFrame copy_of(std::string_view bytes) {
    return make(bytes.size(), [&](std::byte* p) { std::memcpy(p, bytes.data(), bytes.size()); });
  }

  SharedFrame(const SharedFrame& o) : b_(o.b_) {
    if (b_) b_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedFrame(SharedFrame&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  SharedFrame& operator=(SharedFrame o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~SharedFrame() { release(); }

  [[nodiscard]] bool empty() const { return b_ == nullptr; }
  [[nodiscard]] size_t size() const { return b_ ? b_->size : 0; }
  [[nodiscard]] const std::byte* data() const {
    return b_ ? reinterpret_cast<const std::byte*>(b_ + 1) : nullptr;
  }
  [[nodiscard]] std::string_view view() const {
    return {reinterpret_cast<const char*>(data()), size()};
  }
  [[nodiscard]] uint32_t use_count() const {
    return b_ ? b_->refs.load(std::memory_order_relaxed) : 0;
  }

 private:
  struct Block {
    std::atomic<uint32_t> refs;
    size_t size;
  };
  explicit SharedFrame(Block* b) : b_(b) {}
  void release() {
    // acq_rel: the last owner must see every write made before other owners dropped theirs.
    if (b_ && b_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      b_->refs.~atomic();
      std::free(b_);
    }
    b_ = nullptr;
  }
  Block* b_ = nullptr;
};

static_assert(std::is_nothrow_move_constructible_v<SharedFrame>);

}  // namespace rtchat::core
