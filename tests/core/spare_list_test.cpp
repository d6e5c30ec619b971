#include "core/spare_list.h"

#include <gtest/gtest.h>

#include <memory>

namespace rtchat::core {
namespace {

TEST(SpareList, KeepsUpToItsBoundAndHandsBackMostRecentFirst) {
  SpareList<std::unique_ptr<int>> spares(2);
  std::unique_ptr<int> v;
  EXPECT_FALSE(spares.take(v));
  EXPECT_EQ(v, nullptr);

  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  auto c = std::make_unique<int>(3);
  spares.give(a);
  spares.give(b);
  EXPECT_EQ(a, nullptr);  // kept: moved from
  EXPECT_EQ(b, nullptr);
  spares.give(c);  // past the bound: left with the caller
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(*c, 3);
  EXPECT_EQ(spares.size(), 2u);

  ASSERT_TRUE(spares.take(v));
  EXPECT_EQ(*v, 2);
  ASSERT_TRUE(spares.take(v));
  EXPECT_EQ(*v, 1);
  EXPECT_FALSE(spares.take(v));
  EXPECT_EQ(*v, 1);  // untouched when there is none
}

}  // namespace
}  // namespace rtchat::core
