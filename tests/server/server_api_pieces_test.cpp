// The server API's pure pieces: the API key check, the JSON bodies, the Idempotency-Key table.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/auth/api_key.h"
#include "server/net/server_api_json.h"
#include "server/shard/idempotency_table.h"

namespace rtchat::server {
namespace {

TEST(ApiKey, NoKeyConfiguredMeansTheApiIsOff) {
  EXPECT_EQ(check_api_key({}, "Bearer anything"), ApiKeyCheck::Off);
}

TEST(ApiKey, MissingWrongAndRotatedKeys) {
  const std::vector<std::string> keys{"old-key-0123456789", "new-key-9876543210"};
  EXPECT_EQ(check_api_key(keys, ""), ApiKeyCheck::Missing);
  EXPECT_EQ(check_api_key(keys, "Basic b2xkLWtleQ=="), ApiKeyCheck::Missing);
  EXPECT_EQ(check_api_key(keys, "Bearer "), ApiKeyCheck::Missing);
  EXPECT_EQ(check_api_key(keys, "Bearer old-key-012345678"), ApiKeyCheck::Wrong);  // a prefix
  EXPECT_EQ(check_api_key(keys, "Bearer old-key-01234567890"), ApiKeyCheck::Wrong);
  EXPECT_EQ(check_api_key(keys, "Bearer old-key-0123456789"), ApiKeyCheck::Ok);
  EXPECT_EQ(check_api_key(keys, "bearer new-key-9876543210"), ApiKeyCheck::Ok);  // scheme: any case
}

TEST(ApiKey, BearerTokenTrimsSpaces) {
  EXPECT_EQ(bearer_token("Bearer  abc "), "abc");
  EXPECT_EQ(bearer_token("Bearerabc"), "");
  EXPECT_EQ(bearer_token("Token abc"), "");
}

TEST(ServerApiJson, PublishBody) {
  std::string error;
  auto r = parse_api_publish(R"({"body":"hi","user_id":"bot","name":"Bot"})", error);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hi");
  EXPECT_EQ(r->user_id, "bot");
  EXPECT_EQ(r->name, "Bot");
  r = parse_api_publish(R"({"body":"only"})", error);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->user_id, "");
  EXPECT_FALSE(parse_api_publish("not json", error));
  EXPECT_FALSE(parse_api_publish("[1]", error));
  EXPECT_FALSE(parse_api_publish(R"({"body":5})", error));
  EXPECT_FALSE(parse_api_publish(R"({"text":"hi"})", error));
  EXPECT_FALSE(parse_api_publish(R"({"body":"hi","user_id":7})", error));
  EXPECT_FALSE(error.empty());
}

TEST(ServerApiJson, DisconnectReason) {
  EXPECT_EQ(parse_disconnect_reason(""), "");
  EXPECT_EQ(parse_disconnect_reason("  \n"), "");
  EXPECT_EQ(parse_disconnect_reason("{}"), "");
  EXPECT_EQ(parse_disconnect_reason(R"({"reason":"spam"})"), "spam");
  EXPECT_FALSE(parse_disconnect_reason(R"({"reason":1})"));
  EXPECT_FALSE(parse_disconnect_reason("nope"));
}

TEST(ServerApiJson, CloseReasonFitsAControlFrame) {
  EXPECT_EQ(disconnect_close_reason(""), "disconnected by server");
  EXPECT_EQ(disconnect_close_reason("banned"), "disconnected by server: banned");
  std::string long_reason;
  for (int i = 0; i < 100; ++i) long_reason += "\xC3\xA9";  // é, two bytes each
  const std::string cut = disconnect_close_reason(long_reason);
  EXPECT_LE(cut.size(), 123u);
  EXPECT_GE(cut.size(), 122u);
  EXPECT_NE(static_cast<unsigned char>(cut.back()), 0xC3u);  // never half a character
}

TEST(ServerApiJson, PresenceAnswerCountsUsersAndDevices) {
  proto::PresenceEntries entries;
  entries.emplace_back("alice", std::vector<proto::PresenceMeta>{{"r1", 1, "Alice", "phone"},
                                                                 {"r2", 2, "Alice", ""}});
  entries.emplace_back("bob", std::vector<proto::PresenceMeta>{{"r3", 3, "Bob", ""}});
  std::string out;
  encode_presence_answer(entries, out);
  EXPECT_NE(out.find(R"("presence":{"alice":{"metas":[)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("users":2,"devices":3})"), std::string::npos) << out;
}

TEST(ServerApiJson, RoomsSortedCutAndEncoded) {
  std::vector<RoomMembers> rooms{{"team-b", 2}, {"general", 3}, {"team-a", 1}};
  bool has_more = false;
  keep_first_rooms(rooms, 2, has_more);
  EXPECT_TRUE(has_more);
  std::string out;
  encode_rooms_answer(rooms, has_more, out);
  EXPECT_EQ(
      out,
      R"({"rooms":[{"id":"general","members":3},{"id":"team-a","members":1}],"has_more":true})");
  keep_first_rooms(rooms, 5, has_more);
  EXPECT_FALSE(has_more);
}

TEST(IdempotencyTable, RetryGetsTheFirstIdUntilItExpires) {
  IdempotencyTable t(100, 1000);
  int64_t id = 0;
  EXPECT_EQ(t.begin("lobby", "k1", 0, id), IdempotencyTable::Seen::New);
  EXPECT_EQ(t.begin("lobby", "k1", 10, id), IdempotencyTable::Seen::Pending);
  t.complete("lobby", "k1", 42);
  EXPECT_EQ(t.begin("lobby", "k1", 20, id), IdempotencyTable::Seen::Done);
  EXPECT_EQ(id, 42);
  EXPECT_EQ(t.begin("other", "k1", 20, id), IdempotencyTable::Seen::New);    // per room
  EXPECT_EQ(t.begin("lobby", "k1", 1000, id), IdempotencyTable::Seen::New);  // expired
}

TEST(IdempotencyTable, AbandonedKeyPublishesAgain) {
  IdempotencyTable t(100, 1000);
  int64_t id = 0;
  EXPECT_EQ(t.begin("lobby", "k", 0, id), IdempotencyTable::Seen::New);
  t.abandon("lobby", "k");
  EXPECT_EQ(t.begin("lobby", "k", 1, id), IdempotencyTable::Seen::New);
  t.complete("lobby", "k", 7);
  EXPECT_EQ(t.begin("lobby", "k", 999, id), IdempotencyTable::Seen::Done);
}

TEST(IdempotencyTable, BoundedBySizeOldestFirst) {
  IdempotencyTable t(3, 1'000'000);
  int64_t id = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(t.begin("lobby", "k" + std::to_string(i), i, id), IdempotencyTable::Seen::New);
    t.complete("lobby", "k" + std::to_string(i), i + 1);
    EXPECT_LE(t.size(), 3u);
  }
  EXPECT_EQ(t.begin("lobby", "k9", 20, id), IdempotencyTable::Seen::Done);
  EXPECT_EQ(t.begin("lobby", "k0", 20, id), IdempotencyTable::Seen::New);  // evicted
}

// A pending key is never evicted for room (its retry would publish a second message): a table
// full of pending publishes refuses new keys until one completes or expires.
TEST(IdempotencyTable, PendingKeysAreNeverEvictedAFullTableRefuses) {
  IdempotencyTable t(3, 1'000'000);
  int64_t id = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(t.begin("lobby", "p" + std::to_string(i), i, id), IdempotencyTable::Seen::New);
  }
  EXPECT_EQ(t.begin("lobby", "new", 5, id), IdempotencyTable::Seen::Full);
  EXPECT_EQ(t.begin("lobby", "p0", 6, id), IdempotencyTable::Seen::Pending);  // still held
  t.complete("lobby", "p0", 11);
  EXPECT_EQ(t.begin("lobby", "new", 7, id), IdempotencyTable::Seen::New);  // p0 (done) made room
  EXPECT_EQ(t.begin("lobby", "p1", 8, id), IdempotencyTable::Seen::Pending);
  EXPECT_EQ(t.begin("lobby", "x", 2'000'000, id), IdempotencyTable::Seen::New);  // TTL ends all
}

}  // namespace
}  // namespace rtchat::server
