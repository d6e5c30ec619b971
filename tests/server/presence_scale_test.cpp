// Presence at scale: the turn's shared presence_state frames, pacing of diffs, turn joins, and
// the join budgets' pruning.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/net/ws_frame.h"
#include "server/shard/join_limits.h"
#include "server/shard/presence_pacing.h"
#include "server/shard/presence_state_frames.h"
#include "server/shard/room_owner.h"

namespace rtchat::server {
namespace {

proto::PresenceEntries sample_state(int users) {
  proto::PresenceEntries state;
  for (int i = 0; i < users; ++i) {
    std::string user = "u" + std::to_string(i);
    state.emplace_back(
        user, std::vector<proto::PresenceMeta>{{"F1.0." + std::to_string(i), 1700000000000 + i,
                                                "N\"" + user, i % 2 ? "phone" : ""}});
  }
  return state;
}

std::string joined(const PresenceStateFrames::Frames& f) {
  return std::string(f.head.view()) + std::string(f.tail.view());
}

std::string whole_json(const std::optional<std::string>& join_ref, std::string_view topic,
                       const proto::PresenceEntries& state) {
  std::string payload;
  proto::phoenix::encode_presence_state(join_ref, topic, state, payload);
  return std::string(make_ws_frame(WsOpcode::Text, payload).view());
}

TEST(PresenceStateFrames, JsonHeadPlusSharedTailIsTheWholeFrame) {
  for (int users : {0, 1, 3, 200}) {  // 200: a payload past 125 bytes (16-bit length header)
    const proto::PresenceEntries state = sample_state(users);
    const proto::PresenceStateView view = proto::view_of(state);
    PresenceStateFrames frames("room:lobby", view);
    for (const std::optional<std::string>& ref :
         {std::optional<std::string>("1"), std::optional<std::string>("12345"),
          std::optional<std::string>()}) {
      EXPECT_EQ(joined(frames.for_join(false, ref)), whole_json(ref, "room:lobby", state))
          << users << " users";
    }
  }
}

TEST(PresenceStateFrames, OneJsonEncodingSharedByEveryJoiner) {
  const proto::PresenceEntries state = sample_state(50);
  const proto::PresenceStateView view = proto::view_of(state);
  PresenceStateFrames frames("room:big", view);
  auto a = frames.for_join(false, std::string("1"));
  auto b = frames.for_join(false, std::string("7"));
  EXPECT_EQ(a.tail.data(), b.tail.data());  // the same buffer, not a copy
  EXPECT_NE(a.head.view(), b.head.view());
  EXPECT_EQ(frames.encodings(), 1u);
}

// Binary: one state encoding shared by every joiner, a head per distinct join_ref (cached); head
// then tail is one frame that decodes to the state, the joiner's join_ref and the topic.
TEST(PresenceStateFrames, BinaryStateEncodedOnceHeadPerJoinRef) {
  for (int users : {0, 1, 5, 300}) {
    const proto::PresenceEntries state = sample_state(users);
    const proto::PresenceStateView view = proto::view_of(state);
    PresenceStateFrames frames("room:b", view);
    auto a = frames.for_join(true, std::string("1"));
    auto b = frames.for_join(true, std::string("1"));
    auto c = frames.for_join(true, std::string("22"));
    auto d = frames.for_join(true, std::nullopt);
    EXPECT_EQ(a.head.data(), b.head.data());
    EXPECT_NE(a.head.data(), c.head.data());
    EXPECT_EQ(a.tail.data(), c.tail.data());  // the same buffer, not a copy
    EXPECT_EQ(a.tail.data(), d.tail.data());
    EXPECT_EQ(frames.encodings(), 1u);
    for (const auto& [f, ref] : {std::pair{a, std::optional<std::string>("1")},
                                 std::pair{c, std::optional<std::string>("22")},
                                 std::pair{d, std::optional<std::string>()}}) {
      const std::string frame = joined(f);
      // The WebSocket header announces head + tail as one payload.
      size_t h = 2;
      while (h < 14 && ws_header_size(frame.size() - h) != h) ++h;
      ASSERT_LT(h, 14u);
      std::string payload = frame.substr(h);
      proto::ServerMessage m;
      ASSERT_EQ(proto::binary::decode_server(payload, m), proto::DecodeError::None) << users;
      EXPECT_EQ(m.event, proto::ServerEvent::PresenceState);
      EXPECT_EQ(m.join_ref, ref);
      EXPECT_EQ(m.topic, "room:b");
      EXPECT_EQ(m.state, state) << users;
    }
  }
}

TEST(PresencePacing, QuietRoomGoesAtOnceBusyRoomWaitsBySize) {
  PresencePacing p;                               // 5 ms per member, at most 1.5 s
  EXPECT_EQ(p.due_ms(0, 1000, 100), 1000);        // never sent: now
  EXPECT_EQ(p.due_ms(100, 10000, 100), 10000);    // long ago: now
  EXPECT_EQ(p.due_ms(1000, 1010, 100), 1500);     // 100 members: 500 ms apart
  EXPECT_EQ(p.due_ms(1000, 1001, 2), 1010);       // two members: 10 ms
  EXPECT_EQ(p.due_ms(1000, 1001, 100000), 2500);  // capped at 1.5 s
  PresencePacing off{.per_member_us = 0};
  EXPECT_EQ(off.due_ms(1000, 1001, 100), 1001);  // every turn
}

// A join storm: past storm_joins_per_s joins in a one-second window every room waits the
// longest, until a window after the rate fell; a quiet room's first change still goes at once.
TEST(PresencePacing, AJoinStormMakesEveryRoomWaitTheLongest) {
  PresencePacing p{.storm_joins_per_s = 3};
  EXPECT_EQ(p.due_ms(1000, 1001, 2, true), 2500);  // two members, storm: 1.5 s, not 10 ms
  EXPECT_EQ(p.due_ms(0, 1001, 2, true), 1001);     // never sent: now, storm or not
  JoinStormMeter m(3);
  for (int64_t t : {10000, 10100, 10200}) m.note_join(t);
  EXPECT_FALSE(m.storming(10200));  // 3 a second is not over 3
  m.note_join(10300);
  EXPECT_TRUE(m.storming(10300));
  EXPECT_TRUE(m.storming(11299));  // a window past the last join over the rate
  EXPECT_FALSE(m.storming(11300));
  m.note_join(11400);  // a new window: one join
  EXPECT_FALSE(m.storming(11400));
  JoinStormMeter off(0);
  for (int i = 0; i < 100; ++i) off.note_join(20000);
  EXPECT_FALSE(off.storming(20000));
}

JoinRoom join_of(std::string room, uint32_t slot, std::string user) {
  JoinRoom j;
  j.room = std::move(room);
  j.conn = ConnRef{0, slot, 1};
  j.join_ref = "1";
  j.user_id = std::move(user);
  j.user_name = j.user_id;
  return j;
}

// The room's kept JSON state: after any sequence of joins (new users append, a second socket and
// a leave drop the text) the state a turn's joiner gets is the room's state, entry for entry;
// join-only turns reuse the text instead of encoding the records.
proto::PresenceEntries sorted_state(std::string_view frame) {
  proto::ServerMessage m;
  EXPECT_EQ(proto::phoenix::decode_server(frame, m), proto::DecodeError::None) << frame;
  EXPECT_EQ(m.event, proto::ServerEvent::PresenceState);
  std::sort(m.state.begin(), m.state.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  return m.state;
}

TEST(PresenceStateCache, KeptStateIsTheRoomsStateAfterJoinsAndLeaves) {
  RoomOwner owner(0, 1);
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  uint32_t slot = 0;
  std::string scratch;
  proto::PresenceStateView view;
  size_t encodings = 0;
  // One turn: the joins, then the state as PresenceStateFrames builds it with the room's cache.
  auto turn = [&](std::vector<std::string> users) {
    OwnedRoom* room = nullptr;
    for (auto& u : users) room = &owner.join(join_of("r", ++slot, u), 0, accepted, catchup);
    const bool kept = room->state_cache.valid();
    view.clear();
    proto::PresenceEntries merged;
    if (!kept) owner.presence_state_view(*room, merged, view);
    PresenceStateFrames frames("room:r", view, scratch, &room->state_cache, 1000);
    auto f = frames.for_join(false, std::string("1"));
    encodings += frames.encodings();
    const std::string frame = joined(f);
    const size_t total = frame.size();
    const size_t header = total - 2 < 126 ? 2 : (total - 4 < 65536 ? 4 : 10);
    const std::string payload = frame.substr(header);
    std::string whole;
    proto::phoenix::encode_presence_state(std::string("1"), "room:r", owner.presence_state(*room),
                                          whole);
    EXPECT_EQ(sorted_state(payload), sorted_state(whole)) << users.size();
    return kept;
  };
  EXPECT_FALSE(turn({"a", "b"}));  // encoded from the records; too small to keep
  EXPECT_FALSE(turn({"b2"}));
  std::vector<std::string> many;
  for (int i = 0; i < 250; ++i) many.push_back("member-" + std::to_string(i));
  EXPECT_FALSE(turn(many));  // encoded; past kMinKeptBytes, so kept
  EXPECT_TRUE(turn({"c"}));  // a new user: appended
  const uint32_t c_slot = slot;
  EXPECT_TRUE(turn({"d", "e\"q"}));
  EXPECT_FALSE(turn({"a"}));  // a's second socket changes an entry: encoded whole again
  EXPECT_TRUE(turn({"f"}));
  ASSERT_TRUE(owner.leave(LeaveRoom{"r", ConnRef{0, c_slot, 1}, "c"}));
  EXPECT_FALSE(turn({"g"}));  // a leave drops the text
  EXPECT_EQ(encodings, 5u);

  OwnedRoom& room = *owner.find("r");
  room.state_cache.release_if_idle(1000 + PresenceStateCache::kIdleMs - 1);
  EXPECT_TRUE(room.state_cache.valid());
  room.state_cache.release_if_idle(1000 + PresenceStateCache::kIdleMs);
  EXPECT_FALSE(room.state_cache.valid());
  EXPECT_TRUE(room.state_cache.entries().empty());
  EXPECT_FALSE(turn({"h"}));
}

TEST(RoomOwnerTurn, JoinsQueuedForTheTurnComeOutTogetherAndCanBeCancelled) {
  RoomOwner owner(0, 1);
  OwnedRoom& room = owner.ensure("r");
  owner.queue_turn_join(room, join_of("r", 1, "a"));
  owner.queue_turn_join(room, join_of("r", 2, "b"));
  owner.queue_turn_join(room, join_of("r", 3, "c"));
  EXPECT_FALSE(RoomOwner::is_unused(room));  // answers are owed
  RoomOwner::cancel_turn_join(room, ConnRef{0, 2, 1});
  std::vector<std::string> users;
  owner.take_turn_joins([&](const std::string& name, OwnedRoom&, std::vector<JoinRoom>& joins) {
    EXPECT_EQ(name, "r");
    for (auto& j : joins) users.push_back(j.user_id);
  });
  EXPECT_EQ(users, (std::vector<std::string>{"a", "c"}));
  int calls = 0;
  owner.take_turn_joins([&](auto&, auto&, auto&) { ++calls; });
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(owner.drop_if_unused("r"));
}

TEST(RoomOwnerTurn, PacedDiffWaitsUntilDueThenCarriesEveryChange) {
  RoomOwner owner(0, 1);
  owner.set_pacing(PresencePacing{.per_member_us = 1'000'000, .max_delay_ms = 60'000});
  JoinAccepted acc;
  std::optional<StoreCatchup> catchup;
  owner.join(join_of("r", 1, "a"), 100, acc, catchup);
  int diffs = 0;
  const int64_t t0 = core::mono_millis();
  owner.take_pending_diffs(t0, [&](auto&, auto&, auto&) { ++diffs; });
  EXPECT_EQ(diffs, 1);  // a quiet room's first change goes at once
  owner.join(join_of("r", 2, "b"), 100, acc, catchup);
  owner.join(join_of("r", 3, "c"), 100, acc, catchup);
  size_t joins = 0;
  owner.take_pending_diffs(t0 + 1,
                           [&](auto&, auto&, proto::PresenceDiff& d) { joins += d.joins.size(); });
  EXPECT_EQ(joins, 0u);                                  // paced: 1 s per member
  EXPECT_LT(owner.next_diff_due_ms(), INT64_MAX);        // the loop knows when to wake
  EXPECT_FALSE(RoomOwner::is_unused(*owner.find("r")));  // the diff is still owed
  owner.take_pending_diffs(owner.next_diff_due_ms(),
                           [&](auto&, auto&, proto::PresenceDiff& d) { joins += d.joins.size(); });
  EXPECT_EQ(joins, 2u);  // b and c in one diff
  EXPECT_EQ(owner.next_diff_due_ms(), INT64_MAX);
}

TEST(KeyedRateLimitPrune, FullBucketsAreForgottenAndAnEmptyTableFreed) {
  KeyedRateLimit limit(2, 1000);
  EXPECT_TRUE(limit.try_take("a", 0));
  EXPECT_TRUE(limit.try_take("b", 500));
  limit.prune(1000);  // a's bucket is full again at 1000, b's at 1500
  EXPECT_EQ(limit.tracked_keys(), 1u);
  limit.prune(1500);
  EXPECT_EQ(limit.tracked_keys(), 0u);
  EXPECT_TRUE(limit.try_take("a", 1500));  // still works after the table was freed
  EXPECT_TRUE(limit.try_take("a", 1500));
  EXPECT_FALSE(limit.try_take("a", 1500));
}

}  // namespace
}  // namespace rtchat::server
