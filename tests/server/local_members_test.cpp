#include "server/shard/local_members.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

namespace rtchat::server {
namespace {

ConnRef ref(uint32_t n) { return ConnRef{n % 3, n, n / 7 + 1}; }

auto key(const ConnRef& r) { return std::tuple(r.shard, r.slot, r.generation); }

// The members as a multiset (order is not part of the contract: a leave moves the last member).
std::map<std::tuple<uint32_t, uint32_t, uint32_t>, int> counts(const std::vector<ConnRef>& v) {
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, int> m;
  for (const auto& r : v) m[key(r)]++;
  return m;
}

TEST(LocalMembers, SmallRoomKeepsNoIndex) {
  LocalMembers m;
  for (uint32_t i = 0; i < LocalMembers::kIndexFrom - 1; ++i) m.add(ref(i));
  EXPECT_FALSE(m.indexed());
  m.add(ref(999));
  EXPECT_TRUE(m.indexed());
  // Well below the threshold again: the index's memory goes back.
  for (uint32_t i = 0; i < LocalMembers::kIndexFrom / 2 + 1; ++i) EXPECT_TRUE(m.remove(ref(i)));
  EXPECT_FALSE(m.indexed());
  EXPECT_EQ(m.size(), LocalMembers::kIndexFrom / 2 - 1);
}

// A mass leave of a 10,000-member room, in random order: every leave finds its member through
// the index (a stale position would remove the wrong one or none), and the room ends empty.
TEST(LocalMembers, MassLeaveOfALargeRoomRemovesExactlyEachMember) {
  LocalMembers m;
  std::vector<ConnRef> all;
  for (uint32_t i = 0; i < 10000; ++i) {
    all.push_back(ref(i));
    m.add(all.back());
  }
  ASSERT_TRUE(m.indexed());
  std::mt19937 rng(7);
  std::shuffle(all.begin(), all.end(), rng);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(m.remove(all[i])) << i;
    ASSERT_FALSE(m.remove(all[i])) << i;  // gone: a second leave finds nothing
    if (i % 997 == 0) {
      std::vector<ConnRef> left(all.begin() + static_cast<std::ptrdiff_t>(i) + 1, all.end());
      ASSERT_EQ(counts(m.list()), counts(left)) << i;
    }
  }
  EXPECT_TRUE(m.empty());
}

// Joins and leaves mixed around the threshold, checked against a plain list after every step.
TEST(LocalMembers, RandomJoinsAndLeavesMatchAPlainList) {
  LocalMembers m;
  std::vector<ConnRef> model;
  std::mt19937 rng(42);
  for (int step = 0; step < 40000; ++step) {
    // Grow to a few hundred, shrink below the threshold, grow again.
    const bool growing = (step / 4000) % 2 == 0;
    const bool join = model.empty() || (rng() % 100) < (growing ? 65u : 35u);
    if (join) {
      // Sometimes a connection already listed (the index must stay consistent by position).
      const ConnRef r = (!model.empty() && rng() % 50 == 0) ? model[rng() % model.size()]
                                                            : ref(static_cast<uint32_t>(rng()));
      m.add(r);
      model.push_back(r);
    } else {
      const bool absent = rng() % 10 == 0;
      const ConnRef r =
          absent ? ConnRef{9, static_cast<uint32_t>(rng()), 0} : model[rng() % model.size()];
      auto it = std::find(model.begin(), model.end(), r);
      const bool expected = it != model.end();
      if (expected) model.erase(it);
      ASSERT_EQ(m.remove(r), expected) << step;
    }
    ASSERT_EQ(m.size(), model.size());
    if (step % 101 == 0) ASSERT_EQ(counts(m.list()), counts(model)) << step;
  }
}

}  // namespace
}  // namespace rtchat::server
