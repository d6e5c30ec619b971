// A connection's pending output: references to encoded frames (shared with every other
// recipient), gathered into one sendmsg per loop turn (corking).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <vector>

#include "core/shared_frame.h"
#include "core/spare_list.h"

namespace rtchat::server {

// Shard-local. At most one send is in flight; it covers a prefix of the queue.
class OutboundQueue {
 public:
  static constexpr size_t kMaxIov = 64;    // frames per sendmsg; more wait for the next turn
  static constexpr size_t kKeptItems = 8;  // capacity kept across turns (8 x 24 bytes)

  void push(core::SharedFrame frame) {
    bytes_ += frame.size();
    // A connection's frames come in bursts (a join: its reply, presence_state head and tail, then
    // diffs): a vector of the kept capacity from the thread's spares (or one allocation of it),
    // not a growth through 1, 2, 4 and 8.
    if (items_.capacity() == 0) take_spare();
    items_.push_back({std::move(frame), 0});
  }
  [[nodiscard]] bool empty() const { return head_ == items_.size(); }
  [[nodiscard]] size_t bytes() const { return bytes_; }

  // Frames queued and not fully sent.
  [[nodiscard]] size_t frames() const { return items_.size() - head_; }
  // Fills iov with the queue's head (at most max entries); returns the number used.
  size_t gather(iovec* iov, size_t max = kMaxIov) const {
    size_t n = 0;
    for (auto it = items_.begin() + static_cast<std::ptrdiff_t>(head_);
         it != items_.end() && n < max; ++it, ++n) {
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
    // Empty: the vector goes back to the thread's spares (one that grew past the kept capacity is
    // freed), so a connection holds one only while it has output pending. A storm's connections
    // all got a join reply: kept until their idle sweep, each one's vector was a 208-byte block
    // among the long-lived ones, a hole once given back.
    items_.clear();
    if (items_.capacity() == kKeptItems) spares().give(items_);
    Items().swap(items_);  // kept (moved from) or freed
    head_ = 0;
    bytes_ = 0;
  }

 private:
  struct Item {
    core::SharedFrame frame;
    size_t offset;
  };
  using Items = std::vector<Item>;
  static constexpr size_t kMaxSpares = 256;  // per shard thread: 256 x 192 bytes
  // A queue lives and dies on its connection's shard thread, so its spares are that thread's.
  static core::SpareList<Items>& spares() {
    static thread_local core::SpareList<Items> list(kMaxSpares);
    return list;
  }
  void take_spare() {
    if (!spares().take(items_)) items_.reserve(kKeptItems);
  }
  std::vector<Item> items_;  // [head_, size) pending; a vector holds nothing until used
  size_t head_ = 0;
  size_t bytes_ = 0;
};

}  // namespace rtchat::server
