// A connection's pending output: references to encoded frames (shared with every other
// recipient), gathered into one sendmsg per loop turn (corking, performance-notes 2.5).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <deque>

#include "core/shared_frame.h"

namespace rtchat::server {

// Shard-local. At most one send is in flight; it covers a prefix of the queue.
class OutboundQueue {
 public:
  static constexpr size_t kMaxIov = 64;  // frames per sendmsg; more wait for the next turn

  void push(core::SharedFrame frame) {
    bytes_ += frame.size();
    items_.push_back({std::move(frame), 0});
  }
  [[nodiscard]] bool empty() const { return items_.empty(); }
  [[nodiscard]] size_t bytes() const { return bytes_; }

  // Fills iov with the queue's head; returns the number of entries used.
  size_t gather(iovec* iov) const {
    size_t n = 0;
    for (auto it = items_.begin(); it != items_.end() && n < kMaxIov; ++it, ++n) {
      iov[n].iov_base = const_cast<std::byte*>(it->frame.data() + it->offset);
      iov[n].iov_len = it->frame.size() - it->offset;
    }
    return n;
  }
  // Drops `sent` bytes from the head (a send completed, possibly partially).
  void consume(size_t sent) {
    bytes_ -= sent;
    while (sent > 0 && !items_.empty()) {
      Item& head = items_.front();
      size_t left = head.frame.size() - head.offset;
      if (sent < left) {
        head.offset += sent;
        return;
      }
      sent -= left;
      items_.pop_front();
    }
  }
  void clear() {
    items_.clear();
    bytes_ = 0;
  }

 private:
  struct Item {
    core::SharedFrame frame;
    size_t offset;
  };
  std::deque<Item> items_;
  size_t bytes_ = 0;
};

}  // namespace rtchat::server
