// The storage thread's answer to StoreLoadRoom (issue 12, item 4): an owner shard creating a room
// record asks for the room's last id; a read failure is an answer too (ok = false), so the joins
// waiting for it get an error instead of hanging.
#include "server/storage/storage_thread.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "server/storage/memory_store.h"
#include "support/message_fixtures.h"

namespace rtchat::server {
namespace {

// A store whose reads fail (a broken disk); appends succeed so a test can tell them apart.
class UnreadableStore final : public Store {
 public:
  bool append(std::span<const proto::ChatMessage>, std::string&) override { return true; }
  bool page(std::string_view, std::optional<int64_t>, int, std::vector<proto::ChatMessage>&,
            bool&) override {
    return false;
  }
  bool range(std::string_view, int64_t, int64_t, int, std::vector<proto::ChatMessage>&) override {
    return false;
  }
  bool last_id(std::string_view, int64_t& out) override {
    out = 0;
    return false;
  }
  bool find_message(std::string_view, int64_t, proto::ChatMessage&, bool& found) override {
    found = false;
    return false;
  }
  bool room_exists(std::string_view) override { return false; }
  bool room_floors(std::string_view, int, std::vector<std::pair<std::string, int64_t>>&) override {
    return false;
  }
  int64_t apply_retention(int64_t, int64_t, int64_t) override { return 0; }
  bool mark_read(std::span<ReadMark>, std::string&) override { return true; }
  bool read_state(std::string_view, std::string_view, int64_t, int, int64_t&, int&) override {
    return false;
  }
};

class StorageThreadLoad : public ::testing::Test {
 protected:
  void start(std::unique_ptr<Store> store) {
    thread_ = std::make_unique<StorageThread>(std::move(store), config_, 1);
    thread_->set_reply_mailbox(0, replies_);
    thread_->set_floors_reply_mailbox(floors_);
    thread_->start();
  }
  void TearDown() override { thread_.reset(); }

  StoreRoomLoaded load(const std::string& room) {
    EXPECT_TRUE(thread_->inbox(0).try_push(StoreLoadRoom{room}));
    thread_->inbox(0).notify();
    StorageReply reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!replies_.try_pop(reply)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no answer for " << room;
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto* loaded = std::get_if<StoreRoomLoaded>(&reply);
    EXPECT_NE(loaded, nullptr);
    return loaded ? std::move(*loaded) : StoreRoomLoaded{};
  }

  StoreCatchupDone catchup(StoreCatchup request) {
    EXPECT_TRUE(thread_->inbox(0).try_push(std::move(request)));
    thread_->inbox(0).notify();
    StorageReply reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!replies_.try_pop(reply)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no catch-up answer";
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto* done = std::get_if<StoreCatchupDone>(&reply);
    EXPECT_NE(done, nullptr);
    return done ? std::move(*done) : StoreCatchupDone{};
  }

  // The cluster link's pair: a page of room floors (after a Redis data loss).
  StoreRoomFloorsDone floors(StoreRoomFloors request) {
    EXPECT_TRUE(thread_->floors_inbox().try_push(std::move(request)));
    thread_->floors_inbox().notify();
    StoreRoomFloorsDone done;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!floors_.try_pop(done)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no floors answer";
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done;
  }

  ServerConfig config_;
  core::Doorbell doorbell_;
  core::Mailbox<StorageReply> replies_{64, doorbell_};
  core::Mailbox<StoreRoomFloorsDone> floors_{4, doorbell_};
  std::unique_ptr<StorageThread> thread_;
};

TEST_F(StorageThreadLoad, AnswersTheRoomsLastStoredIdOrZero) {
  auto store = open_memory_store();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 7), error));
  start(std::move(store));
  StoreRoomLoaded lobby = load("lobby");
  EXPECT_EQ(lobby.room, "lobby");
  EXPECT_TRUE(lobby.ok);
  EXPECT_EQ(lobby.last_id, 7);
  StoreRoomLoaded fresh = load("fresh");
  EXPECT_TRUE(fresh.ok);
  EXPECT_EQ(fresh.last_id, 0);
}

TEST_F(StorageThreadLoad, AnswersTheLinksFloorRequestsPageByPage) {
  auto store = open_memory_store();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("b", 1, 7), error));
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("a", 1, 3), error));
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("c", 1, 2), error));
  start(std::move(store));
  using Floors = std::vector<std::pair<std::string, int64_t>>;
  StoreRoomFloorsDone first = floors(StoreRoomFloors{"", 2});
  EXPECT_TRUE(first.ok);
  EXPECT_EQ(first.request.limit, 2);
  EXPECT_EQ(first.floors, (Floors{{"a", 3}, {"b", 7}}));
  StoreRoomFloorsDone next = floors(StoreRoomFloors{"b", 2});
  EXPECT_TRUE(next.ok);
  EXPECT_EQ(next.request.after_room, "b");
  EXPECT_EQ(next.floors, (Floors{{"c", 2}}));
}

TEST_F(StorageThreadLoad, AFloorsReadFailureIsAnAnswer) {
  start(std::make_unique<UnreadableStore>());
  StoreRoomFloorsDone done = floors(StoreRoomFloors{"", 10});
  EXPECT_FALSE(done.ok);
  EXPECT_TRUE(done.floors.empty());
}

TEST_F(StorageThreadLoad, ACatchUpOverItsByteBudgetStaysInTheStorageThread) {
  auto store = open_memory_store();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 40), error));
  start(std::move(store));
  StoreCatchupDone small = catchup(StoreCatchup{"lobby", {}, 1, 0, 40, 1000, 1000});
  EXPECT_TRUE(small.ok);
  EXPECT_TRUE(small.too_large);  // 40 messages of ~130 bytes estimated: over 1000
  EXPECT_TRUE(small.messages.empty());
  StoreCatchupDone fits = catchup(StoreCatchup{"lobby", {}, 2, 0, 40, 1000, 1 << 20});
  EXPECT_TRUE(fits.ok);
  EXPECT_FALSE(fits.too_large);
  EXPECT_EQ(fits.messages.size(), 40u);
}

TEST_F(StorageThreadLoad, ReadFailureIsAnAnswerNotASilence) {
  start(std::make_unique<UnreadableStore>());
  StoreRoomLoaded r = load("lobby");
  EXPECT_EQ(r.room, "lobby");
  EXPECT_FALSE(r.ok);
}

}  // namespace
}  // namespace rtchat::server

namespace rtchat::server {
namespace {

// Reads messages like the memory store, but its read state is broken.
class NoReadStateStore final : public Store {
 public:
  NoReadStateStore() : inner_(open_memory_store()) {}
  bool append(std::span<const proto::ChatMessage> b, std::string& e) override {
    return inner_->append(b, e);
  }
  bool page(std::string_view r, std::optional<int64_t> before, int limit,
            std::vector<proto::ChatMessage>& out, bool& more) override {
    return inner_->page(r, before, limit, out, more);
  }
  bool range(std::string_view r, int64_t after, int64_t upto, int max,
             std::vector<proto::ChatMessage>& out) override {
    return inner_->range(r, after, upto, max, out);
  }
  bool last_id(std::string_view r, int64_t& out) override { return inner_->last_id(r, out); }
  bool find_message(std::string_view r, int64_t id, proto::ChatMessage& m, bool& f) override {
    return inner_->find_message(r, id, m, f);
  }
  bool room_exists(std::string_view r) override { return inner_->room_exists(r); }
  bool room_floors(std::string_view a, int l,
                   std::vector<std::pair<std::string, int64_t>>& out) override {
    return inner_->room_floors(a, l, out);
  }
  int64_t apply_retention(int64_t n, int64_t age, int64_t now) override {
    return inner_->apply_retention(n, age, now);
  }
  bool mark_read(std::span<ReadMark> m, std::string& e) override { return inner_->mark_read(m, e); }
  bool read_state(std::string_view, std::string_view, int64_t, int, int64_t&, int&) override {
    return false;
  }

 private:
  std::unique_ptr<Store> inner_;
};

// The read state is optional in a join reply: failing to read it must not fail the catch-up.
TEST_F(StorageThreadLoad, AReadStateFailureDoesNotFailTheCatchUp) {
  auto store = std::make_unique<NoReadStateStore>();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 5), error));
  start(std::move(store));
  StoreCatchup request{"lobby", {}, 1, 2, 5, 1000, 1 << 20};
  request.read_state_of = "alice";
  StoreCatchupDone done = catchup(std::move(request));
  EXPECT_TRUE(done.ok);
  EXPECT_FALSE(done.read_state_ok);
  EXPECT_EQ(done.messages.size(), 3u);
}

TEST_F(StorageThreadLoad, ACatchUpWithAHoleIsNotARecovery) {
  auto store = open_memory_store();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 3), error));
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 6, 8), error));  // 4, 5 gone
  start(std::move(store));
  StoreCatchupDone holed = catchup(StoreCatchup{"lobby", {}, 1, 2, 8, 1000, 1 << 20});
  EXPECT_TRUE(holed.ok);
  EXPECT_TRUE(holed.too_large);  // answered recovered: false
  EXPECT_TRUE(holed.messages.empty());
  StoreCatchupDone whole = catchup(StoreCatchup{"lobby", {}, 2, 5, 8, 1000, 1 << 20});
  EXPECT_TRUE(whole.ok);
  EXPECT_FALSE(whole.too_large);
  EXPECT_EQ(whole.messages.size(), 3u);
}

// A mass rejoin: joiners recovering the same range in one batch share one read of it (the same
// messages, not a copy); a commit in between (a delete may have made a tombstone) reads again.
TEST_F(StorageThreadLoad, JoinersRecoveringOneRangeInOneBatchShareOneRead) {
  auto store = open_memory_store();
  std::string error;
  ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 10), error));
  thread_ = std::make_unique<StorageThread>(std::move(store), config_, 1);
  thread_->set_reply_mailbox(0, replies_);
  thread_->set_floors_reply_mailbox(floors_);
  // Queued before the thread starts: one batch.
  auto& inbox = thread_->inbox(0);
  ASSERT_TRUE(inbox.try_push(StoreCatchup{"lobby", {}, 1, 4, 10, 1000, 1 << 20}));
  ASSERT_TRUE(inbox.try_push(StoreCatchup{"lobby", {}, 2, 4, 10, 1000, 1 << 20}));
  ASSERT_TRUE(inbox.try_push(StoreCatchup{"lobby", {}, 3, 5, 10, 1000, 1 << 20}));  // another range
  ASSERT_TRUE(inbox.try_push(StoreAppend{rtchat::testing::make_message("lobby", 11), {}}));
  ASSERT_TRUE(inbox.try_push(StoreCatchup{"lobby", {}, 4, 4, 10, 1000, 1 << 20}));
  thread_->start();
  inbox.notify();
  std::vector<StoreCatchupDone> done;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    StorageReply reply;
    if (!replies_.try_pop(reply)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (auto* d = std::get_if<StoreCatchupDone>(&reply)) done.push_back(std::move(*d));
  }
  ASSERT_EQ(done.size(), 4u);
  for (const auto& d : done) EXPECT_TRUE(d.ok && !d.too_large);
  EXPECT_EQ(done[0].messages.size(), 6u);  // ids 5..10
  EXPECT_EQ(done[0].messages[0].id, 5);
  EXPECT_TRUE(done[1].messages.same_as(done[0].messages));
  EXPECT_EQ(done[2].messages.size(), 5u);
  EXPECT_FALSE(done[2].messages.same_as(done[0].messages));
  EXPECT_EQ(done[3].messages.size(), 6u);  // the range asked: up to 10, read again
  EXPECT_FALSE(done[3].messages.same_as(done[0].messages));
  EXPECT_EQ(done[3].messages[5].id, 10);
}

}  // namespace
}  // namespace rtchat::server
