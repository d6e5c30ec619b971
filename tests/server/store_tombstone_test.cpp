// Moderation in the Store contract (server/store.h): a delete event tombstones its target in the
// same transaction, pages list tombstones but not delete events, ranges (catch-up) list both in
// order. Run against MemoryStore and SqliteStore alike, plus a schema-1 SQLite file migrated.
#include <gtest/gtest.h>
#include <sqlite3.h>

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

using proto::ChatMessage;
using rtchat::testing::ids_of;
using rtchat::testing::make_message;
using rtchat::testing::make_messages;

enum class Backend { Memory, Sqlite };

ChatMessage delete_event(const std::string& room, int64_t id, int64_t target,
                         const std::string& by) {
  ChatMessage m;
  m.id = id;
  m.room = room;
  m.user_id = by;
  m.user = by;
  m.ts = 1'700'000'001'000;
  m.delete_target = target;
  return m;
}

class StoreTombstoneTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Memory) {
      store_ = open_memory_store();
    } else {
      dir_ = rtchat::testing::make_temp_dir("rtchat-tombstone-");
      store_ = open_sqlite_store(SqliteOptions{.path = (dir_ / "history.db").string()});
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void append_ok(const std::vector<ChatMessage>& batch) {
    std::string error;
    ASSERT_TRUE(store_->append(batch, error)) << error;
  }
  std::unique_ptr<Store> store_;
  std::filesystem::path dir_;
};

TEST_P(StoreTombstoneTest, DeleteEventErasesTheBodyAndPagesShowTheTombstoneOnly) {
  append_ok(make_messages("lobby", 1, 3));
  append_ok({delete_event("lobby", 4, 2, "mod")});
  std::vector<ChatMessage> page;
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 10, page, has_more));
  EXPECT_EQ(ids_of(page), (std::vector<int64_t>{1, 2, 3}));  // no delete event
  EXPECT_FALSE(has_more);
  EXPECT_TRUE(page[1].deleted);
  EXPECT_EQ(page[1].body, "");
  EXPECT_EQ(page[1].user_id, make_message("lobby", 2).user_id);  // author and time stay
  EXPECT_FALSE(page[0].deleted);
  EXPECT_EQ(page[0].body, make_message("lobby", 1).body);
  int64_t last = 0;
  ASSERT_TRUE(store_->last_id("lobby", last));
  EXPECT_EQ(last, 4);  // the delete event holds an id of the room's order
}

TEST_P(StoreTombstoneTest, RangeReplaysTombstonesAndDeleteEventsInOrder) {
  append_ok(make_messages("lobby", 1, 3));
  append_ok({delete_event("lobby", 4, 1, "mod"), make_message("lobby", 5)});
  std::vector<ChatMessage> out;
  ASSERT_TRUE(store_->range("lobby", 0, 5, 100, out));
  ASSERT_EQ(ids_of(out), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(out[0].deleted);
  EXPECT_EQ(out[3].delete_target, 1);
  EXPECT_EQ(out[3].user_id, "mod");
  EXPECT_EQ(out[4].delete_target, 0);
}

TEST_P(StoreTombstoneTest, FindMessageSeesTombstonesAndDeleteEvents) {
  append_ok(make_messages("lobby", 1, 2));
  append_ok({delete_event("lobby", 3, 2, "u2")});
  ChatMessage m;
  bool found = false;
  ASSERT_TRUE(store_->find_message("lobby", 1, m, found));
  EXPECT_TRUE(found);
  EXPECT_FALSE(m.deleted);
  ASSERT_TRUE(store_->find_message("lobby", 2, m, found));
  EXPECT_TRUE(found);
  EXPECT_TRUE(m.deleted);
  ASSERT_TRUE(store_->find_message("lobby", 3, m, found));
  EXPECT_TRUE(found);
  EXPECT_EQ(m.delete_target, 2);
  ASSERT_TRUE(store_->find_message("lobby", 9, m, found));
  EXPECT_FALSE(found);
  ASSERT_TRUE(store_->find_message("other", 1, m, found));
  EXPECT_FALSE(found);
}

TEST_P(StoreTombstoneTest, PagesCountOnlyMessagesForLimitAndHasMore) {
  append_ok(make_messages("lobby", 1, 2));
  append_ok({delete_event("lobby", 3, 1, "mod"), delete_event("lobby", 4, 2, "mod")});
  std::vector<ChatMessage> page;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 1, page, has_more));
  EXPECT_EQ(ids_of(page), (std::vector<int64_t>{2}));
  EXPECT_TRUE(has_more);
  ASSERT_TRUE(store_->page("lobby", 2, 1, page, has_more));
  EXPECT_EQ(ids_of(page), (std::vector<int64_t>{1}));
  EXPECT_FALSE(has_more);
}

TEST_P(StoreTombstoneTest, DeleteOfAMessageRetentionRemovedIsNoError) {
  append_ok({delete_event("lobby", 7, 3, "mod")});
  int64_t last = 0;
  ASSERT_TRUE(store_->last_id("lobby", last));
  EXPECT_EQ(last, 7);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTombstoneTest,
                         ::testing::Values(Backend::Memory, Backend::Sqlite), [](const auto& info) {
                           return info.param == Backend::Memory ? "Memory" : "Sqlite";
                         });

// A database written by a build before moderation (schema 1) opens, migrates, and tombstones.
TEST(SqliteTombstoneMigration, SchemaOneFileGainsTheModerationColumns) {
  auto dir = rtchat::testing::make_temp_dir("rtchat-migrate-");
  const std::string path = (dir / "history.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* v1 =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);"
      "INSERT INTO schema_version VALUES(1, 0);"
      "CREATE TABLE messages(room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT NULL,"
      " user_name TEXT NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL) STRICT;"
      "CREATE UNIQUE INDEX messages_by_room ON messages(room, id);"
      "INSERT INTO messages VALUES('lobby', 1, 'u1', 'U1', 'old text', 5);";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  {
    auto store = open_sqlite_store(SqliteOptions{.path = path});
    std::string error;
    ASSERT_TRUE(store->append(std::vector<ChatMessage>{delete_event("lobby", 2, 1, "u1")}, error))
        << error;
    std::vector<ChatMessage> page;
    bool has_more = false;
    ASSERT_TRUE(store->page("lobby", std::nullopt, 10, page, has_more));
    ASSERT_EQ(page.size(), 1u);
    EXPECT_TRUE(page[0].deleted);
    EXPECT_EQ(page[0].body, "");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rtchat::server
