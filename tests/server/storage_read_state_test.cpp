// The storage thread's read-state requests (issue 16, item 4): mark_read requests are stored in
// the group commit and each is answered with the stored (monotonic) position, in order; a join's
// catch-up trip that asks for the read state comes back with last_read_id and a capped unread.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "server/storage/memory_store.h"
#include "server/storage/storage_thread.h"
#include "support/message_fixtures.h"

namespace rtchat::server {
namespace {

class StorageReadState : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_memory_store();
    std::string error;
    ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 150), error));
    thread_ = std::make_unique<StorageThread>(std::move(store), config_, 1);
    thread_->set_reply_mailbox(0, replies_);
    thread_->start();
  }
  void TearDown() override { thread_.reset(); }

  void send(StorageRequest request) {
    ASSERT_TRUE(thread_->inbox(0).try_push(std::move(request)));
    thread_->inbox(0).notify();
  }
  StorageReply next() {
    StorageReply reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!replies_.try_pop(reply)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no answer";
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return reply;
  }
  static StoreMarkRead mark(const std::string& user, int64_t id, const std::string& ref) {
    MarkRead origin{"lobby", {}, std::nullopt, ref, user, id};
    return StoreMarkRead{user, id, std::move(origin)};
  }

  ServerConfig config_;
  core::Doorbell doorbell_;
  core::Mailbox<StorageReply> replies_{64, doorbell_};
  std::unique_ptr<StorageThread> thread_;
};

TEST_F(StorageReadState, MarksAreAnsweredInOrderWithTheStoredPosition) {
  send(mark("ann", 40, "1"));
  send(mark("ann", 30, "2"));  // behind the stored 40: answered 40
  send(mark("bob", 7, "3"));
  const int64_t expected[] = {40, 40, 7};
  const char* refs[] = {"1", "2", "3"};
  for (int i = 0; i < 3; ++i) {
    StorageReply reply = next();
    auto* done = std::get_if<StoreMarkReadDone>(&reply);
    ASSERT_NE(done, nullptr);
    EXPECT_TRUE(done->ok);
    EXPECT_EQ(done->origin.ref, refs[i]);
    EXPECT_EQ(done->last_read_id, expected[i]);
  }
}

TEST_F(StorageReadState, AJoinTripLoadsTheReadStateWithACappedUnreadCount) {
  send(mark("ann", 120, "1"));
  ASSERT_TRUE(std::holds_alternative<StoreMarkReadDone>(next()));
  for (auto [user, last, unread] : {std::tuple{"ann", 120, 30}, std::tuple{"cid", 0, 100}}) {
    StoreCatchup trip{"lobby", {}, 1, 150, 150, 0};
    trip.recovering = false;
    trip.read_state_of = user;
    send(std::move(trip));
    StorageReply reply = next();
    auto* done = std::get_if<StoreCatchupDone>(&reply);
    ASSERT_NE(done, nullptr);
    EXPECT_TRUE(done->ok);
    EXPECT_TRUE(done->messages.empty());
    EXPECT_EQ(done->last_read_id, last) << user;
    EXPECT_EQ(done->unread, unread) << user;
  }
}

}  // namespace
}  // namespace rtchat::server
