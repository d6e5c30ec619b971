// A room's joins waiting on the owner (for the room's load, or for the end of the loop turn), in
// arrival order, and the leaves that cancel them. A leave cancels the joins of its connection
// queued before it. A short queue is scanned; past kScanUpTo the leave is only noted and the
// joins it cancels are dropped when the queue is taken: a mass leave during a mass join (a
// 10,000-member room reconnecting) was leaves x joins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/messages/room_messages.h"

namespace rtchat::server {

class JoinQueue {
 public:
  static constexpr size_t kScanUpTo = 32;

  // Empty: nothing queued. Not empty may still hold only cancelled joins, until take().
  [[nodiscard]] bool empty() const { return joins_.empty(); }
  void push_back(JoinRoom&& join) { joins_.push_back(std::move(join)); }
  void cancel(const ConnRef& conn) {
    if (joins_.empty()) return;
    if (left_at_.empty() && joins_.size() <= kScanUpTo) {
      std::erase_if(joins_, [&](const JoinRoom& j) { return j.conn == conn; });
      return;
    }
    // Positions stay as they are from the first mark on: every later leave is marked too.
    left_at_[conn] = joins_.size();
  }
  // The joins not cancelled, in arrival order; the queue is left empty.
  std::vector<JoinRoom> take() {
    std::vector<JoinRoom> joins = std::move(joins_);
    joins_.clear();
    if (left_at_.empty()) return joins;
    size_t kept = 0;
    for (size_t i = 0; i < joins.size(); ++i) {
      auto it = left_at_.find(joins[i].conn);
      if (it != left_at_.end() && i < it->second) continue;  // its connection left after it
      if (kept != i) joins[kept] = std::move(joins[i]);
      ++kept;
    }
    joins.resize(kept);
    LeftAt().swap(left_at_);
    return joins;
  }
  void clear() {
    joins_.clear();
    LeftAt().swap(left_at_);
  }

 private:
  struct Hash {
    size_t operator()(const ConnRef& c) const {
      return std::hash<uint64_t>()((uint64_t{c.generation} << 32 | c.slot) ^
                                   (uint64_t{c.shard} * 0x9E3779B97F4A7C15ULL));
    }
  };
  using LeftAt = std::unordered_map<ConnRef, size_t, Hash>;

  std::vector<JoinRoom> joins_;
  LeftAt left_at_;  // connection -> joins_.size() at its last leave
};

}  // namespace rtchat::server
