// The history page byte cap (server/storage/storage_thread.h): what one history request may queue.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/storage/storage_thread.h"

namespace rtchat::server {
namespace {

std::vector<proto::ChatMessage> page_of(int count, const std::string& body) {
  std::vector<proto::ChatMessage> out;
  for (int i = 1; i <= count; ++i) out.push_back({i, "r", "u", "U", body, 0});
  return out;
}

TEST(PageBytes, ControlCharactersCountAsTheirEscapes) {
  auto plain = page_of(1, std::string(100, 'a'));
  auto control = page_of(1, std::string(100, '\x01'));
  EXPECT_EQ(estimated_page_bytes(control) - estimated_page_bytes(plain), 500u);
}

TEST(PageBytes, SmallPageIsUntouched) {
  auto page = page_of(50, "hello");
  bool has_more = false;
  cap_page_bytes(page, has_more, 256 * 1024);
  EXPECT_EQ(page.size(), 50u);
  EXPECT_FALSE(has_more);
}

TEST(PageBytes, LargePageKeepsTheNewestThatFitAndSaysThereIsMore) {
  auto page = page_of(200, std::string(4000, '\x01'));  // ~24 KB each escaped
  bool has_more = false;
  cap_page_bytes(page, has_more, 256 * 1024);
  ASSERT_FALSE(page.empty());
  EXPECT_LT(page.size(), 200u);
  EXPECT_TRUE(has_more);
  EXPECT_LE(estimated_page_bytes(page), 256u * 1024);
  EXPECT_EQ(page.back().id, 200);  // the newest stay: the client pages on with before_id
  EXPECT_EQ(page.front().id, 200 - static_cast<int64_t>(page.size()) + 1);
}

TEST(PageBytes, OneMessageLargerThanTheCapIsStillReturned) {
  auto page = page_of(3, std::string(4000, '\x01'));
  bool has_more = false;
  cap_page_bytes(page, has_more, 1000);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page.front().id, 3);
  EXPECT_TRUE(has_more);
}

}  // namespace
}  // namespace rtchat::server
