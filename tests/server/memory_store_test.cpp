// The Store contract (server/storage/store.h), run against MemoryStore and SqliteStore alike:
// whatever the storage thread sees must not depend on the backend. SQLite-only behaviour (files,
// schema, disk full) stays in sqlite_store_test.cpp.
#include "server/storage/memory_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/storage/sqlite_store.h"
#include "support/message_fixtures.h"
#include "support/test_support.h"

namespace rtchat::server {
namespace {

using proto::ChatMessage;

using rtchat::testing::id_sequence;
using rtchat::testing::ids_of;
using rtchat::testing::make_message;
using rtchat::testing::make_messages;

using LastIds = std::vector<std::pair<std::string, int64_t>>;

enum class Backend { Memory, Sqlite };

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Memory) {
      store_ = open_memory_store();
    } else {
      dir_ = rtchat::testing::make_temp_dir("rtchat-contract-");
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
  std::vector<int64_t> page_ids(const std::string& room, std::optional<int64_t> before, int limit,
                                bool& has_more) {
    std::vector<ChatMessage> out;
    EXPECT_TRUE(store_->page(room, before, limit, out, has_more));
    return ids_of(out);
  }
  std::vector<std::pair<std::string, int64_t>> last_ids_of(const std::vector<std::string>& rooms) {
    return testing::last_ids_of(*store_, rooms);
  }
  std::vector<int64_t> all_ids(const std::string& room) {
    bool has_more = false;
    return page_ids(room, std::nullopt, Store::kMaxPageLimit, has_more);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, EmptyStoreHasNoRoomsAndEmptyPages) {
  EXPECT_EQ(last_ids_of({"lobby"}), (LastIds{{"lobby", 0}}));  // no message: 0
  EXPECT_FALSE(store_->room_exists("lobby"));
  std::vector<ChatMessage> out{make_message("x", 1)};
  bool has_more = true;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 50, out, has_more));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(has_more);
  out.push_back(make_message("x", 1));
  ASSERT_TRUE(store_->range("lobby", 0, 100, 10, out));
  EXPECT_TRUE(out.empty());
  std::string error;
  EXPECT_TRUE(store_->append({}, error));
}

TEST_P(StoreContractTest, MessagesRoundTripByteForByte) {
  ChatMessage m = make_message("lobby", 1);
  m.body = std::string("caf\xc3\xa9 \xf0\x9f\x92\xac with a\0nul", 20);
  m.user = "Zoë";
  append_ok({m});
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("lobby", std::nullopt, 1, out, has_more));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], m);
  ASSERT_TRUE(store_->range("lobby", 0, 1, 1, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], m);
}

TEST_P(StoreContractTest, RoomExistsOnlyAfterAMessage) {
  EXPECT_FALSE(store_->room_exists("lobby"));
  append_ok({make_message("lobby", 1)});
  EXPECT_TRUE(store_->room_exists("lobby"));
  EXPECT_FALSE(store_->room_exists("lobb"));
  EXPECT_FALSE(store_->room_exists("lobby2"));
}

TEST_P(StoreContractTest, LastIdIsTheRoomsHighestStoredId) {
  append_ok(make_messages("b", 1, 3));
  append_ok({make_message("a", 10), make_message("c", 1), make_message("a", 11)});
  EXPECT_EQ(last_ids_of({"a", "b", "c", "a2", "", "b\x01"}),
            (LastIds{{"a", 11}, {"b", 3}, {"c", 1}, {"a2", 0}, {"", 0}, {"b\x01", 0}}));
}

// The cluster link's floors after a Redis data loss: every room with its newest id, in name
// (byte) order, a page at a time; after retention each room's newest id is still its floor.
TEST_P(StoreContractTest, RoomFloorsPageThroughEveryRoomInNameOrder) {
  LastIds out{{"stale", 1}};
  ASSERT_TRUE(store_->room_floors("", 10, out));
  EXPECT_TRUE(out.empty());
  append_ok(make_messages("b", 1, 3));
  append_ok({make_message("a", 10), make_message("c", 1), make_message("a", 11),
             make_message("b\x01", 7), make_message("A", 2)});
  ASSERT_TRUE(store_->room_floors("", 10, out));
  EXPECT_EQ(out, (LastIds{{"A", 2}, {"a", 11}, {"b", 3}, {"b\x01", 7}, {"c", 1}}));
  ASSERT_TRUE(store_->room_floors("", 2, out));
  EXPECT_EQ(out, (LastIds{{"A", 2}, {"a", 11}}));
  ASSERT_TRUE(store_->room_floors("a", 2, out));
  EXPECT_EQ(out, (LastIds{{"b", 3}, {"b\x01", 7}}));
  ASSERT_TRUE(store_->room_floors("b\x01", 2, out));
  EXPECT_EQ(out, (LastIds{{"c", 1}}));
  ASSERT_TRUE(store_->room_floors("c", 2, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->room_floors("", 0, out));  // clamped to 1
  EXPECT_EQ(out, (LastIds{{"A", 2}}));
  ASSERT_GE(store_->apply_retention(1, 0, 0), 0);
  ASSERT_TRUE(store_->room_floors("", 10, out));
  EXPECT_EQ(out, (LastIds{{"A", 2}, {"a", 11}, {"b", 3}, {"b\x01", 7}, {"c", 1}}));
}

TEST_P(StoreContractTest, PagingWalksBackOldestFirstWithExactHasMore) {
  append_ok(make_messages("lobby", 1, 120));
  bool has_more = false;
  EXPECT_EQ(page_ids("lobby", std::nullopt, 50, has_more), id_sequence(71, 120));
  EXPECT_TRUE(has_more);
  EXPECT_EQ(page_ids("lobby", 71, 50, has_more), id_sequence(21, 70));
  EXPECT_TRUE(has_more);
  EXPECT_EQ(page_ids("lobby", 21, 50, has_more), id_sequence(1, 20));
  EXPECT_FALSE(has_more);
  // Exactly limit older messages: none left. One fewer than that: one left.
  EXPECT_EQ(page_ids("lobby", 11, 10, has_more), id_sequence(1, 10));
  EXPECT_FALSE(has_more);
  EXPECT_EQ(page_ids("lobby", 11, 9, has_more), id_sequence(2, 10));
  EXPECT_TRUE(has_more);
  // before_id between stored ids, past the end, at or below the oldest.
  EXPECT_EQ(page_ids("lobby", 1000, 3, has_more), id_sequence(118, 120));
  EXPECT_EQ(page_ids("lobby", 1, 50, has_more), std::vector<int64_t>{});
  EXPECT_FALSE(has_more);
  EXPECT_EQ(page_ids("lobby", -5, 50, has_more), std::vector<int64_t>{});
  EXPECT_FALSE(has_more);
}

TEST_P(StoreContractTest, PageBeforeIdWorksAcrossGapsInIds) {
  append_ok({make_message("lobby", 2), make_message("lobby", 5), make_message("lobby", 9)});
  bool has_more = false;
  EXPECT_EQ(page_ids("lobby", 9, 1, has_more), std::vector<int64_t>{5});
  EXPECT_TRUE(has_more);
  EXPECT_EQ(page_ids("lobby", 6, 5, has_more), (std::vector<int64_t>{2, 5}));
  EXPECT_FALSE(has_more);
}

TEST_P(StoreContractTest, PageClampsLimitIntoProtocolRange) {
  append_ok(make_messages("lobby", 1, 250));
  bool has_more = false;
  EXPECT_EQ(page_ids("lobby", std::nullopt, 1000, has_more), id_sequence(51, 250));
  EXPECT_TRUE(has_more);
  EXPECT_EQ(page_ids("lobby", std::nullopt, 0, has_more), std::vector<int64_t>{250});
  EXPECT_EQ(page_ids("lobby", std::nullopt, -3, has_more), std::vector<int64_t>{250});
  EXPECT_TRUE(has_more);
}

TEST_P(StoreContractTest, RoomsDoNotMix) {
  append_ok(
      {make_message("a", 1), make_message("b", 1), make_message("a", 2), make_message("b", 2)});
  std::vector<ChatMessage> out;
  bool has_more = false;
  ASSERT_TRUE(store_->page("a", std::nullopt, 50, out, has_more));
  EXPECT_EQ(out, (std::vector<ChatMessage>{make_message("a", 1), make_message("a", 2)}));
  ASSERT_TRUE(store_->range("b", 0, 10, 10, out));
  EXPECT_EQ(out, (std::vector<ChatMessage>{make_message("b", 1), make_message("b", 2)}));
}

TEST_P(StoreContractTest, RangeIsHalfOpenOldestFirstUpToMaxCount) {
  append_ok(make_messages("lobby", 1, 20));
  std::vector<ChatMessage> out;
  ASSERT_TRUE(store_->range("lobby", 5, 9, 100, out));
  EXPECT_EQ(ids_of(out), id_sequence(6, 9));
  ASSERT_TRUE(store_->range("lobby", 5, 20, 3, out));
  EXPECT_EQ(ids_of(out), id_sequence(6, 8));
  ASSERT_TRUE(store_->range("lobby", -10, 2, 100, out));
  EXPECT_EQ(ids_of(out), id_sequence(1, 2));
  ASSERT_TRUE(store_->range("lobby", 20, 30, 10, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("lobby", 9, 5, 10, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("lobby", 0, 20, 0, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(store_->range("lobby", 0, 20, -1, out));
  EXPECT_TRUE(out.empty());
}

TEST_P(StoreContractTest, DuplicateOfStoredIdFailsWholeBatch) {
  append_ok({make_message("lobby", 1)});
  std::string error;
  EXPECT_FALSE(
      store_->append(std::vector<ChatMessage>{make_message("other", 1), make_message("lobby", 2),
                                              make_message("lobby", 1)},
                     error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(all_ids("lobby"), std::vector<int64_t>{1});
  EXPECT_FALSE(store_->room_exists("other"));
  append_ok({make_message("lobby", 2)});  // the store is still usable
  EXPECT_EQ(all_ids("lobby"), id_sequence(1, 2));
}

TEST_P(StoreContractTest, DuplicateWithinOneBatchFailsWholeBatch) {
  std::string error;
  EXPECT_FALSE(
      store_->append(std::vector<ChatMessage>{make_message("lobby", 1), make_message("lobby", 2),
                                              make_message("lobby", 1)},
                     error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(store_->room_exists("lobby"));
}

TEST_P(StoreContractTest, DuplicateAmongManyRoomsIsFound) {
  // Enough rooms in one batch to leave the fast path of the memory store.
  std::vector<ChatMessage> batch;
  for (int room = 0; room < 100; ++room)
    batch.push_back(make_message("r" + std::to_string(room), 1));
  append_ok(batch);
  batch.clear();
  for (int room = 0; room < 100; ++room)
    batch.push_back(make_message("r" + std::to_string(room), 2));
  batch.push_back(make_message("r57", 1));
  std::string error;
  EXPECT_FALSE(store_->append(batch, error));
  EXPECT_EQ(all_ids("r0"), std::vector<int64_t>{1});
  batch.pop_back();
  append_ok(batch);
  for (int room = 0; room < 100; ++room) {
    int64_t id = 0;
    ASSERT_TRUE(store_->last_id("r" + std::to_string(room), id));
    EXPECT_EQ(id, 2) << room;
  }
}

TEST_P(StoreContractTest, IdsAppendedOutOfOrderAreReadInIdOrder) {
  append_ok({make_message("lobby", 5), make_message("lobby", 2)});
  append_ok({make_message("lobby", 3)});
  EXPECT_EQ(all_ids("lobby"), (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ(last_ids_of({"lobby"}), (LastIds{{"lobby", 5}}));
}

TEST_P(StoreContractTest, RetentionByCountKeepsNewestPerRoom) {
  append_ok(make_messages("a", 1, 10));
  append_ok(make_messages("b", 1, 3));
  EXPECT_EQ(store_->apply_retention(4, 0, 0), 6);
  bool has_more = true;
  EXPECT_EQ(page_ids("a", std::nullopt, 50, has_more), id_sequence(7, 10));
  EXPECT_FALSE(has_more);
  EXPECT_EQ(all_ids("b"), id_sequence(1, 3));
  EXPECT_EQ(store_->apply_retention(4, 0, 0), 0);
  EXPECT_EQ(store_->apply_retention(1, 0, 0), 5);
  EXPECT_EQ(all_ids("a"), std::vector<int64_t>{10});
}

TEST_P(StoreContractTest, RetentionByAgeDropsOldPrefixButKeepsNewestOfEachRoom) {
  const int64_t now = 1'700'000'100'000;
  append_ok({make_message("a", 1, now - 5000), make_message("a", 2, now - 4000),
             make_message("a", 3, now - 500), make_message("a", 4, now - 100)});
  append_ok({make_message("idle", 1, now - 9000), make_message("idle", 2, now - 8000)});
  EXPECT_EQ(store_->apply_retention(0, 1000, now), 3);
  EXPECT_EQ(all_ids("a"), id_sequence(3, 4));
  EXPECT_EQ(all_ids("idle"), std::vector<int64_t>{2});
  EXPECT_EQ(last_ids_of({"a", "idle"}), (LastIds{{"a", 4}, {"idle", 2}}));
}

TEST_P(StoreContractTest, RetentionByAgeTrimsOnlyAPrefix) {
  const int64_t now = 1'700'000'100'000;
  // id 3 is old but follows a young message: it stays (no holes in history).
  append_ok({make_message("a", 1, now - 5000), make_message("a", 2, now - 10),
             make_message("a", 3, now - 5000), make_message("a", 4, now - 10)});
  EXPECT_EQ(store_->apply_retention(0, 1000, now), 1);
  EXPECT_EQ(all_ids("a"), id_sequence(2, 4));
}

TEST_P(StoreContractTest, RetentionAppliesTheStricterOfCountAndAge) {
  const int64_t now = 1'700'000'100'000;
  std::vector<ChatMessage> batch;
  for (int64_t id = 1; id <= 10; ++id) {
    batch.push_back(make_message("a", id, now - 1000 * (10 - id)));
  }
  append_ok(batch);
  // Age keeps ids 6..10 (ts >= now - 4500), count keeps 8..10.
  EXPECT_EQ(store_->apply_retention(3, 4500, now), 7);
  EXPECT_EQ(all_ids("a"), id_sequence(8, 10));
  EXPECT_EQ(store_->apply_retention(0, 0, now + 1'000'000'000), 0);
  EXPECT_EQ(all_ids("a"), id_sequence(8, 10));
}

TEST_P(StoreContractTest, AppendsAfterRetentionContinueTheLog) {
  append_ok(make_messages("a", 1, 10));
  EXPECT_EQ(store_->apply_retention(2, 0, 0), 8);
  append_ok(make_messages("a", 11, 12));
  std::string error;
  EXPECT_FALSE(
      store_->append(std::vector<ChatMessage>{make_message("a", 10)}, error));  // still stored
  bool has_more = true;
  EXPECT_EQ(page_ids("a", std::nullopt, 50, has_more), id_sequence(9, 12));
  EXPECT_FALSE(has_more);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest,
                         ::testing::Values(Backend::Memory, Backend::Sqlite),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::Memory ? "Memory" : "Sqlite";
                         });

}  // namespace
}  // namespace rtchat::server
