// One room's members on this shard (MemberRooms): a plain vector, walked by every broadcast, and
// for a large room an index by connection, so a leave does not scan the room. A mass leave of a
// 10,000-member room (everyone disconnects at once) was 10,000 scans of up to 10,000 members.
// The index is open addressing (linear probing) over positions in the vector: 4 bytes a slot,
// at most 4 slots a member, and none at all below kIndexFrom members (a scan is as fast there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/messages/room_messages.h"

namespace rtchat::server {

class LocalMembers {
 public:
  static constexpr size_t kIndexFrom = 64;  // members from which the index is kept

  [[nodiscard]] const std::vector<ConnRef>& list() const { return members_; }
  [[nodiscard]] size_t size() const { return members_.size(); }
  [[nodiscard]] bool empty() const { return members_.empty(); }
  [[nodiscard]] bool indexed() const { return !slots_.empty(); }

  void add(const ConnRef& ref) {
    members_.push_back(ref);
    if (indexed()) {
      if ((members_.size() + 1) * 2 > slots_.size()) return rebuild(slots_.size() * 2);
      insert(members_.size() - 1);
    } else if (members_.size() >= kIndexFrom) {
      rebuild(kIndexFrom * 4);
    }
  }

  // Removes one entry of ref (the last member moves into its place). False when absent.
  bool remove(const ConnRef& ref) {
    size_t pos = members_.size();
    if (indexed()) {
      const size_t slot = find_slot(ref);
      if (slot == kNone) return false;
      pos = slots_[slot] - 1;
      erase_slot(slot);
      const size_t last = members_.size() - 1;
      if (pos != last) slots_[slot_of(last)] = static_cast<uint32_t>(pos + 1);
    } else {
      for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i] == ref) {
          pos = i;
          break;
        }
      }
      if (pos == members_.size()) return false;
    }
    members_[pos] = members_.back();
    members_.pop_back();
    // Well below the threshold the scan is cheap again: the index's memory goes back.
    if (indexed() && members_.size() < kIndexFrom / 2) std::vector<uint32_t>().swap(slots_);
    return true;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;

  [[nodiscard]] size_t home(const ConnRef& ref) const {
    uint64_t h = (uint64_t{ref.slot} << 32 | ref.generation) ^ (uint64_t{ref.shard} << 24);
    h *= 0x9E3779B97F4A7C15ULL;  // Fibonacci hashing: slots_.size() is a power of two
    return static_cast<size_t>(h >> 32) & (slots_.size() - 1);
  }
  [[nodiscard]] size_t find_slot(const ConnRef& ref) const {
    const size_t mask = slots_.size() - 1;
    for (size_t s = home(ref);; s = (s + 1) & mask) {
      if (slots_[s] == 0) return kNone;
      if (members_[slots_[s] - 1] == ref) return s;
    }
  }
  // The slot holding position pos (by position: a connection listed twice stays consistent).
  [[nodiscard]] size_t slot_of(size_t pos) const {
    const size_t mask = slots_.size() - 1;
    size_t s = home(members_[pos]);
    while (slots_[s] != pos + 1) s = (s + 1) & mask;
    return s;
  }
  void insert(size_t pos) {
    const size_t mask = slots_.size() - 1;
    size_t s = home(members_[pos]);
    while (slots_[s] != 0) s = (s + 1) & mask;
    slots_[s] = static_cast<uint32_t>(pos + 1);
  }
  // Backward-shift deletion: no tombstones, so lookups stay short after many leaves.
  void erase_slot(size_t hole) {
    const size_t mask = slots_.size() - 1;
    for (size_t s = (hole + 1) & mask; slots_[s] != 0; s = (s + 1) & mask) {
      const size_t h = home(members_[slots_[s] - 1]);
      // The entry at s may fill the hole when its home is not cyclically within (hole, s].
      const bool stays = hole <= s ? (hole < h && h <= s) : (hole < h || h <= s);
      if (stays) continue;
      slots_[hole] = slots_[s];
      hole = s;
    }
    slots_[hole] = 0;
  }
  void rebuild(size_t slots) {
    slots_.assign(slots, 0);
    for (size_t i = 0; i < members_.size(); ++i) insert(i);
  }

  std::vector<ConnRef> members_;
  std::vector<uint32_t> slots_;  // position + 1 in members_; 0 = empty. Empty: not indexed.
};

}  // namespace rtchat::server
