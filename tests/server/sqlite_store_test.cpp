#include "server/storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/message_fixtures.h"
#include "support/test_support.h"

namespace rtchat::server {
namespace {

using proto::ChatMessage;

using rtchat::testing::id_sequence;
using rtchat::testing::ids_of;
using rtchat::testing::make_message;
using rtchat::testing::make_messages;

// Reads one integer with a separate raw connection, to check what is really on disk.
int64_t query_int(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t value = -1;
  if (sqlite3_step(s) == SQLITE_ROW) value = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return value;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rtchat::testing::make_temp_dir("rtchat-store-");
    path_ = dir_ / "history.db";
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    store_ = std::make_unique<SqliteStore>(SqliteOptions{.path = path_.string()});
  }
  std::vector<std::pair<std::string, int64_t>> last_ids_of(const std::vector<std::string>& rooms) {
    return testing::last_ids_of(*store_, rooms);
  }
  void append_ok(const std::vector<ChatMessage>& batch) {
    std::string error;
    ASSERT_TRUE(store_->append(batch, error)) << error;
  }

  std::filesystem::path dir_;
  std::filesystem::path path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, MigrationCreatesSchemaInWalMode) {
  EXPECT_EQ(query_int(path_, "SELECT MAX(version) FROM schema_version"),
            SqliteStore::kSchemaVersion);
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'messages'"), 1);
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'messages_by_room'"),
            1);
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM messages"), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, ReopenKeepsDataAndVersionWithoutReapplyingMigrations) {
  append_ok(make_messages("lobby", 1, 5));
  reopen();
  reopen();
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM schema_version"), 1);
  EXPECT_EQ(query_int(path_, "SELECT MAX(version) FROM schema_version"),
            SqliteStore::kSchemaVersion);
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 10, out, has_more));
  EXPECT_EQ(out, make_messages("lobby", 1, 5));
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, OpenRejectsSchemaNewerThanBuild) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES(99, 0)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THROW(SqliteStore(SqliteOptions{.path = path_.string()}), std::runtime_error);
}

TEST_F(SqliteStoreTest, OpenThrowsWhenDirectoryIsMissing) {
  EXPECT_THROW(open_sqlite_store(SqliteOptions{.path = (dir_ / "no" / "such.db").string()}),
               std::runtime_error);
}

TEST_F(SqliteStoreTest, LastIdsPersistAcrossReopen) {
  append_ok(make_messages("b", 1, 3));
  append_ok({make_message("a", 10), make_message("c", 1), make_message("a", 11)});
  reopen();
  const std::vector<std::pair<std::string, int64_t>> expected{{"a", 11}, {"b", 3}, {"c", 1}};
  EXPECT_EQ(last_ids_of({"a", "b", "c"}), expected);
}

TEST_F(SqliteStoreTest, LastIdOfEmptyStoreIsZero) {
  EXPECT_EQ(last_ids_of({"lobby"}), (std::vector<std::pair<std::string, int64_t>>{{"lobby", 0}}));
}

TEST_F(SqliteStoreTest, RoomExistsOnlyAfterAMessage) {
  EXPECT_FALSE(store_->room_exists("lobby"));
  append_ok({make_message("lobby", 1)});
  EXPECT_TRUE(store_->room_exists("lobby"));
  EXPECT_FALSE(store_->room_exists("lobb"));
}

TEST_F(SqliteStoreTest, AppendOfEmptyBatchSucceeds) {
  std::string error;
  EXPECT_TRUE(store_->append({}, error));
}

TEST_F(SqliteStoreTest, MessagesRoundTripByteForByte) {
  ChatMessage m = make_message("lobby", 1);
  m.body = std::string("caf\xc3\xa9 \xf0\x9f\x92\xac with a\0nul", 20);
  m.user = "Zoë";
  append_ok({m});
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 1, out, has_more));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], m);
}

TEST_F(SqliteStoreTest, PageOfEmptyRoomIsEmpty) {
  append_ok({make_message("other", 1)});
  std::vector<ChatMessage> out{make_message("x", 1)};
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 50, out, has_more));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, PageWithLimitLargerThanCountReturnsAllOldestFirst) {
  append_ok(make_messages("lobby", 1, 7));
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 200, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(1, 7));
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, PageLatestReturnsNewestWindowOldestFirst) {
  append_ok(make_messages("lobby", 1, 20));
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 5, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(16, 20));
  EXPECT_TRUE(has_more);
}

TEST_F(SqliteStoreTest, PageBeforeIdWalksBackToTheStart) {
  append_ok(make_messages("lobby", 1, 20));
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", 16, 5, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(11, 15));
  EXPECT_TRUE(has_more);
  ASSERT_TRUE(store_->page("lobby", 4, 5, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(1, 3));
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, PageHasMoreIsExactAtTheBoundary) {
  append_ok(make_messages("lobby", 1, 10));
  std::vector<ChatMessage> out;
  bool has_more = true;
  // Exactly limit messages before 11: none older.
  ASSERT_TRUE(store_->page("lobby", 11, 10, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(1, 10));
  EXPECT_FALSE(has_more);
  // One more than limit: exactly one older.
  ASSERT_TRUE(store_->page("lobby", 11, 9, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(2, 10));
  EXPECT_TRUE(has_more);
}

TEST_F(SqliteStoreTest, PageBeforeOldestIdIsEmpty) {
  append_ok(make_messages("lobby", 5, 9));
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", 5, 50, out, has_more));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(has_more);
  ASSERT_TRUE(store_->page("lobby", -100, 50, out, has_more));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, PageClampsLimitIntoProtocolRange) {
  append_ok(make_messages("lobby", 1, 250));
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 1000, out, has_more));
  EXPECT_EQ(out.size(), static_cast<size_t>(Store::kMaxPageLimit));
  EXPECT_TRUE(has_more);
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 0, out, has_more));
  EXPECT_EQ(ids_of(out), std::vector<int64_t>{250});
}

TEST_F(SqliteStoreTest, PageDoesNotMixRooms) {
  append_ok(
      {make_message("a", 1), make_message("b", 1), make_message("a", 2), make_message("b", 2)});
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("a", std::nullopt, 50, out, has_more));
  EXPECT_EQ(out, (std::vector<ChatMessage>{make_message("a", 1), make_message("a", 2)}));
}

TEST_F(SqliteStoreTest, RangeReturnsHalfOpenIntervalOldestFirstUpToMaxCount) {
  append_ok(make_messages("lobby", 1, 20));
  std::vector<ChatMessage> out;
  ASSERT_TRUE(store_->range("lobby", 5, 9, 100, out));
  EXPECT_EQ(ids_of(out), id_sequence(6, 9));
  ASSERT_TRUE(store_->range("lobby", 5, 20, 3, out));
  EXPECT_EQ(ids_of(out), id_sequence(6, 8));
  ASSERT_TRUE(store_->range("lobby", 20, 30, 10, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("lobby", 9, 5, 10, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("lobby", 0, 20, 0, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("nobody", 0, 20, 10, out));
  EXPECT_TRUE(out.empty());
}

TEST_F(SqliteStoreTest, DuplicateIdFailsWholeBatch) {
  append_ok({make_message("lobby", 1)});
  std::string error;
  const std::vector<ChatMessage> batch{make_message("lobby", 2), make_message("lobby", 1)};
  EXPECT_FALSE(store_->append(batch, error));
  EXPECT_FALSE(error.empty());
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), std::vector<int64_t>{1});
  append_ok({make_message("lobby", 2)});
}

TEST_F(SqliteStoreTest, RetentionByCountKeepsNewestPerRoom) {
  append_ok(make_messages("a", 1, 10));
  append_ok(make_messages("b", 1, 3));
  EXPECT_EQ(store_->apply_retention(4, 0, 0), 6);
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("a", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(7, 10));
  EXPECT_FALSE(has_more);
  ASSERT_TRUE(store_->page("b", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(1, 3));
  EXPECT_EQ(store_->apply_retention(4, 0, 0), 0);
}

TEST_F(SqliteStoreTest, RetentionByAgeDropsOldPrefixButKeepsNewestOfEachRoom) {
  const int64_t now = 1'700'000'100'000;
  append_ok({make_message("a", 1, now - 5000), make_message("a", 2, now - 4000),
             make_message("a", 3, now - 500), make_message("a", 4, now - 100)});
  append_ok({make_message("idle", 1, now - 9000), make_message("idle", 2, now - 8000)});
  EXPECT_EQ(store_->apply_retention(0, 1000, now), 3);
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("a", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(3, 4));
  ASSERT_TRUE(store_->page("idle", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), std::vector<int64_t>{2});  // the room's last id survives
  EXPECT_EQ(last_ids_of({"a", "idle"}),
            (std::vector<std::pair<std::string, int64_t>>{{"a", 4}, {"idle", 2}}));
}

TEST_F(SqliteStoreTest, RetentionAppliesTheStricterOfCountAndAge) {
  const int64_t now = 1'700'000'100'000;
  std::vector<ChatMessage> batch;
  for (int64_t id = 1; id <= 10; ++id)
    batch.push_back(make_message("a", id, now - 1000 * (10 - id)));
  append_ok(batch);
  // Age keeps ids 6..10 (ts >= now - 4500), count keeps 8..10.
  EXPECT_EQ(store_->apply_retention(3, 4500, now), 7);
  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("a", std::nullopt, 50, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(8, 10));
  EXPECT_FALSE(has_more);
}

TEST_F(SqliteStoreTest, RetentionUnlimitedDeletesNothing) {
  append_ok(make_messages("a", 1, 10));
  EXPECT_EQ(store_->apply_retention(0, 0, 1'800'000'000'000), 0);
}

TEST_F(SqliteStoreTest, DiskFullFailsWholeBatchAndRecoversWhenSpaceReturns) {
  append_ok(make_messages("lobby", 1, 3));
  // Cap at the current size: the next batch needs new pages.
  ASSERT_GT(store_->set_max_page_count(1), 0);
  std::vector<ChatMessage> big;
  for (int64_t id = 4; id <= 503; ++id) {
    ChatMessage m = make_message("lobby", id);
    m.body.assign(1000, 'x');
    big.push_back(std::move(m));
  }
  std::string error;
  EXPECT_FALSE(store_->append(big, error));
  EXPECT_EQ(error, "disk full");

  std::vector<ChatMessage> out;
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 200, out, has_more));
  EXPECT_EQ(ids_of(out), id_sequence(1, 3));  // no partial batch
  EXPECT_EQ(last_ids_of({"lobby"}), (std::vector<std::pair<std::string, int64_t>>{{"lobby", 3}}));

  // Space returns: the same batch now goes in, on the same connection.
  EXPECT_GT(store_->set_max_page_count(1'000'000), 1000);
  ASSERT_TRUE(store_->append(big, error)) << error;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 200, out, has_more));
  EXPECT_EQ(out.back().id, 503);
  EXPECT_TRUE(has_more);

  reopen();  // and it is on disk
  EXPECT_EQ(query_int(path_, "SELECT COUNT(*) FROM messages"), 503);
}

TEST_F(SqliteStoreTest, SynchronousFullOptionOpensAndAppends) {
  store_.reset();
  store_ = std::make_unique<SqliteStore>(
      SqliteOptions{.path = path_.string(), .synchronous_full = true});
  append_ok(make_messages("lobby", 1, 2));
  EXPECT_TRUE(store_->room_exists("lobby"));
}

}  // namespace
}  // namespace rtchat::server
