// The read-state half of the Store contract (issue 16, item 4), against MemoryStore and
// SqliteStore alike: a (user, room) position never moves back, marks of one batch are stored
// together, and the unread count is bounded by upto_id and the cap.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/storage/memory_store.h"
#include "server/storage/sqlite_store.h"
#include "support/message_fixtures.h"
#include "support/test_support.h"

namespace rtchat::server {
namespace {

using rtchat::testing::make_messages;

enum class Backend { Memory, Sqlite };

class ReadStateStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Memory) {
      store_ = open_memory_store();
    } else {
      dir_ = rtchat::testing::make_temp_dir("rtchat-readstate-");
      store_ = open_sqlite_store(SqliteOptions{.path = path()});
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string path() const { return (dir_ / "history.db").string(); }
  std::vector<int64_t> mark(std::vector<ReadMark> marks) {
    std::string error;
    EXPECT_TRUE(store_->mark_read(marks, error)) << error;
    std::vector<int64_t> stored;
    for (const auto& m : marks) stored.push_back(m.last_read_id);
    return stored;
  }
  std::pair<int64_t, int> state(const std::string& user, const std::string& room, int64_t upto,
                                int cap = 100) {
    int64_t last = -1;
    int unread = -1;
    EXPECT_TRUE(store_->read_state(user, room, upto, cap, last, unread));
    return {last, unread};
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(ReadStateStoreTest, NeverMarkedIsZeroWithEveryMessageUnread) {
  EXPECT_EQ(state("ann", "lobby", 0), (std::pair<int64_t, int>{0, 0}));
  std::string error;
  ASSERT_TRUE(store_->append(make_messages("lobby", 1, 5), error)) << error;
  EXPECT_EQ(state("ann", "lobby", 5), (std::pair<int64_t, int>{0, 5}));
}

TEST_P(ReadStateStoreTest, MarkNeverMovesBackAndReturnsTheStoredValue) {
  EXPECT_EQ(mark({{"ann", "lobby", 7}}), std::vector<int64_t>{7});
  EXPECT_EQ(mark({{"ann", "lobby", 3}}), std::vector<int64_t>{7});
  EXPECT_EQ(mark({{"ann", "lobby", 9}, {"ann", "lobby", 8}}), (std::vector<int64_t>{9, 9}));
  EXPECT_EQ(state("ann", "lobby", 0).first, 9);
}

TEST_P(ReadStateStoreTest, UsersAndRoomsDoNotMix) {
  mark({{"ann", "lobby", 4}, {"bob", "lobby", 2}, {"ann", "ops", 1}});
  EXPECT_EQ(state("ann", "lobby", 0).first, 4);
  EXPECT_EQ(state("bob", "lobby", 0).first, 2);
  EXPECT_EQ(state("ann", "ops", 0).first, 1);
  EXPECT_EQ(state("bob", "ops", 0).first, 0);
}

TEST_P(ReadStateStoreTest, UnreadCountsIdsAfterTheMarkUpToUptoAndTheCap) {
  std::string error;
  ASSERT_TRUE(store_->append(make_messages("lobby", 1, 250), error)) << error;
  ASSERT_TRUE(store_->append(make_messages("ops", 1, 9), error)) << error;
  mark({{"ann", "lobby", 200}});
  EXPECT_EQ(state("ann", "lobby", 250), (std::pair<int64_t, int>{200, 50}));
  EXPECT_EQ(state("ann", "lobby", 230), (std::pair<int64_t, int>{200, 30}));  // later ids: live
  EXPECT_EQ(state("bob", "lobby", 250), (std::pair<int64_t, int>{0, 100}));   // capped
  EXPECT_EQ(state("bob", "lobby", 250, 10), (std::pair<int64_t, int>{0, 10}));
  EXPECT_EQ(state("ann", "ops", 9), (std::pair<int64_t, int>{0, 9}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReadStateStoreTest,
                         ::testing::Values(Backend::Memory, Backend::Sqlite), [](const auto& info) {
                           return info.param == Backend::Memory ? "Memory" : "Sqlite";
                         });

TEST(SqliteReadState, SurvivesReopen) {
  auto dir = rtchat::testing::make_temp_dir("rtchat-readstate-reopen-");
  const std::string path = (dir / "history.db").string();
  {
    auto store = open_sqlite_store(SqliteOptions{.path = path});
    std::vector<ReadMark> marks{{"ann", "lobby", 12}};
    std::string error;
    ASSERT_TRUE(store->mark_read(marks, error)) << error;
  }
  {
    auto store = open_sqlite_store(SqliteOptions{.path = path});
    int64_t last = 0;
    int unread = 0;
    ASSERT_TRUE(store->read_state("ann", "lobby", 0, 100, last, unread));
    EXPECT_EQ(last, 12);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rtchat::server
