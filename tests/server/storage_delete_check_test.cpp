// delete_msg's check in the storage thread (docs/protocol.md "Moderation"): a check_only append is
// answered checked (nothing stored) when the target exists, is not deleted and is the sender's or
// the sender may moderate; refused with not_found / not_allowed otherwise. Catch-ups keep only the
// delete events whose target is older than their range.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "core/doorbell.h"
#include "core/mailbox.h"
#include "server/config.h"
#include "server/storage/memory_store.h"
#include "server/storage/storage_thread.h"
#include "support/message_fixtures.h"

namespace rtchat::server {
namespace {

class StorageDeleteCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_memory_store();
    std::string error;
    // make_message: message N is written by "u" + N % 7.
    ASSERT_TRUE(store->append(rtchat::testing::make_messages("lobby", 1, 3), error));
    thread_ = std::make_unique<StorageThread>(std::move(store), config_, 1);
    thread_->set_reply_mailbox(0, replies_);
    thread_->start();
  }
  void TearDown() override { thread_.reset(); }

  StorageReply ask(StorageRequest request) {
    EXPECT_TRUE(thread_->inbox(0).try_push(std::move(request)));
    thread_->inbox(0).notify();
    StorageReply reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!replies_.try_pop(reply)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "no answer";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return reply;
  }
  StoreAppendDone remove(int64_t target, const std::string& by, bool moderator, bool check_only,
                         int64_t id = 0) {
    Publish p;
    p.room = "lobby";
    p.user_id = by;
    p.delete_id = target;
    p.may_moderate = moderator;
    proto::ChatMessage event{id, "lobby", by, by, "", 5, false, target};
    StorageReply r = ask(StoreAppend{event, p, check_only});
    auto* done = std::get_if<StoreAppendDone>(&r);
    EXPECT_NE(done, nullptr);
    return done ? std::move(*done) : StoreAppendDone{};
  }

  ServerConfig config_;
  core::Doorbell doorbell_;
  core::Mailbox<StorageReply> replies_{64, doorbell_};
  std::unique_ptr<StorageThread> thread_;
};

TEST_F(StorageDeleteCheck, AuthorOrModeratorPassOthersAreRefused) {
  StoreAppendDone own = remove(1, "u1", false, true);
  EXPECT_TRUE(own.ok);
  EXPECT_TRUE(own.checked);
  EXPECT_TRUE(own.refused.empty());
  EXPECT_EQ(remove(1, "u2", false, true).refused, "not_allowed");
  StoreAppendDone mod = remove(1, "u2", true, true);
  EXPECT_TRUE(mod.checked);
  EXPECT_TRUE(mod.refused.empty());
  EXPECT_EQ(remove(99, "u1", true, true).refused, "not_found");
}

TEST_F(StorageDeleteCheck, ADeletedMessageOrADeleteEventIsNotFound) {
  // The owner's append after the check: stored, the target tombstoned.
  StoreAppendDone stored = remove(2, "u2", false, false, 4);
  EXPECT_TRUE(stored.ok);
  EXPECT_FALSE(stored.checked);
  EXPECT_EQ(remove(2, "u2", false, true).refused, "not_found");  // already deleted
  EXPECT_EQ(remove(4, "u2", true, true).refused, "not_found");   // a delete event
  // Catch-up after id 1: the tombstone of 2 and message 3; the delete event of 2 is in the range
  // with its target, so it is not replayed.
  StorageReply r = ask(StoreCatchup{"lobby", {}, 1, 1, 4, 100, 0});
  auto* after1 = std::get_if<StoreCatchupDone>(&r);
  ASSERT_NE(after1, nullptr);
  ASSERT_EQ(after1->messages.size(), 2u);
  EXPECT_TRUE(after1->messages[0].deleted);
  EXPECT_EQ(after1->messages[1].id, 3);
  // Catch-up after id 3: the delete event of the older message 2 is replayed.
  r = ask(StoreCatchup{"lobby", {}, 2, 3, 4, 100, 0});
  auto* after3 = std::get_if<StoreCatchupDone>(&r);
  ASSERT_NE(after3, nullptr);
  ASSERT_EQ(after3->messages.size(), 1u);
  EXPECT_EQ(after3->messages[0].delete_target, 2);
}

}  // namespace
}  // namespace rtchat::server
