// A connection's pending output: references to encoded frames (shared with every other
// recipient), gathered into one sendmsg per loop turn (corking).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <vector>

#include "core/shared_frame.h"

namespace rtchat::server {

// Shard-local. At most one send is in flight; it covers a prefix of the queue.
class OutboundQueue {
 public:
  static constexpr size_t kMaxIov = 64;    // frames per sendmsg; more wait for the next turn
  static constexpr size_t kKeptItems = 8;  // capacity kept across turns (8 x 24 bytes)

  void push(core::SharedFrame frame) {
    bytes_ += frame.size();
    // A connection's frames come in bursts (a join: its reply, presence_state head and tail, then
    // diffs): one allocation of the kept capacity, not a growth through 1, 2, 4 and 8. An idle
    // connection still gives it back (release_if_empty).
    if (items_.capacity() == 0) items_.reserve(kKeptItems);
    items_.push_back({std::move(frame), 0});
  }
  [[nodiscard]] bool empty() const { return head_ == items_.size(); }
  [[nodiscard]] size_t bytes() const { return bytes_; }

  // Fills iov with the queue's head; returns the number of entries used.
  size_t gather(iovec* iov) const {
    size_t n = 0;
    for (auto it = items_.begin() + static_cast<std::ptrdiff_t>(head_);
         it != items_.end() && n < kMaxIov; ++it, ++n) {
      iov[n].iov_base = const_cast<std::byte*>(it->frame.data() + it->offset);
      iov[n].iov_len = it->frame.size() - it->offset;
    }
    return n;
  }
  // Drops `sent` bytes from the head (a send completed, possibly partially).
  void consume(size_t sent) {
    bytes_ -= sent;
    while (sent > 0 && !empty()) {
      Item& head = items_[head_];
      size_t left = head.frame.size() - head.offset;
      if (sent < left) {
        head.offset += sent;
        return;
      }
      sent -= left;
      head.frame = core::SharedFrame();  // release the reference now, not at compaction
      ++head_;
    }
    if (empty()) clear();
  }
  // An idle connection (nothing queued for a whole sweep) gives its small vector back too.
  void release_if_empty() {
    if (empty() && items_.capacity() > 0) std::vector<Item>().swap(items_);
  }
  void clear() {
    // A busy connection keeps a small vector (no malloc per turn); one that queued a burst gives
    // the memory back, so idle sockets stay cheap.
    if (items_.capacity() > kKeptItems) {
      std::vector<Item>().swap(items_);
    } else {
      items_.clear();
    }
    head_ = 0;
    bytes_ = 0;
  }

 private:
  struct Item {
    core::SharedFrame frame;
    size_t offset;
  };
  std::vector<Item> items_;  // [head_, size) pending; a vector holds nothing until used
  size_t head_ = 0;
  size_t bytes_ = 0;
};

}  // namespace rtchat::server
