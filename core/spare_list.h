// A bounded stack of objects between uses: a shard's wslay contexts, sendmsg arguments, a
// connection queue's vectors. Taking one reuses memory the shard already has instead of a malloc
// per use, and a storm's short-lived blocks do not end up as holes between long-lived ones; what
// is given back beyond the bound stays with its owner to free. Single-threaded (shard-local).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace rtchat::core {

template <typename T>
class SpareList {
 public:
  explicit SpareList(size_t max_spares) : max_(max_spares) {}

  // Moves a spare into v and returns true; false (v untouched) when there is none.
  bool take(T& v) {
    if (list_.empty()) return false;
    v = std::move(list_.back());
    list_.pop_back();
    return true;
  }
  // Keeps v (moved from) when there is room; otherwise leaves it to the caller.
  void give(T& v) {
    if (list_.size() < max_) list_.push_back(std::move(v));
  }
  [[nodiscard]] size_t size() const { return list_.size(); }

 private:
  size_t max_;
  std::vector<T> list_;
};

}  // namespace rtchat::core
