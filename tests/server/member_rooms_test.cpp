// The member side without a ring: a join goes to the owner and its answer comes back as the ok
// and the presence state; broadcasts reach joined connections (the same shared frame); a
// recovering join holds live frames until its catch-up, then releases them after the missed
// messages, in order, without the ones the catch-up covered.
#include "server/shard/member_rooms.h"

#include <gtest/gtest.h>

#include "server/net/ws_frame.h"
#include "support/shard_fakes.h"

namespace rtchat::server {
namespace {

using testing::FakeOutbound;
using testing::take_frames;

constexpr unsigned kShard = 1;

struct MemberFixture : ::testing::Test {
  MemberFixture() {
    config.shards = 2;
    Connection& c = table.allocate(-1);
    c.phase = Phase::WebSocket;
    c.claims = SocketIdentity("ann", "Ann", 0);
    conn = c.ref;
  }
  Connection& c() { return *table.lookup(conn); }

  // phx_join of room:lobby (recovering from last_seen_id when set); returns the JoinRoom sent.
  // The storage's answer to a recovering join, up to id 4.
  CatchupReady catchup(const JoinRoom& j, bool ok, std::vector<proto::ChatMessage> messages) {
    CatchupReady r;
    r.room = "lobby";
    r.conn = conn;
    r.join_id = j.join_id;
    r.ok = ok;
    r.upto_id = 4;
    r.messages = std::move(messages);
    return r;
  }
  static proto::ClientMessage join_message() {
    proto::ClientMessage m;
    m.event = proto::ClientEvent::Join;
    m.topic = "room:lobby";
    m.join_ref = "1";
    m.ref = "1";
    m.payload_valid = true;
    return m;
  }
  JoinRoom join(std::optional<int64_t> last_seen_id = std::nullopt) {
    proto::ClientMessage m = join_message();
    m.last_seen_id = last_seen_id;
    members.join(c(), m);
    auto sent = out.sent<JoinRoom>();
    EXPECT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].first, owner_shard("lobby", 2));
    return sent.back().second;
  }
  JoinAccepted accept(const JoinRoom& j, bool catchup_pending) {
    JoinAccepted a;
    a.room = j.room;
    a.conn = j.conn;
    a.join_id = j.join_id;
    a.join_ref = j.join_ref;
    a.catchup_pending = catchup_pending;
    a.presence_state = make_ws_frame(WsOpcode::Text, "STATE");
    return a;
  }
  RoomBroadcast broadcast(int64_t id, std::string text) {
    RoomBroadcast b;
    b.room = "lobby";
    b.message_id = id;
    b.json = make_ws_frame(WsOpcode::Text, text);
    return b;
  }
  proto::ChatMessage message(int64_t id) {
    return proto::ChatMessage{id, "lobby", "bob", "Bob", "missed " + std::to_string(id), 0};
  }
  std::vector<std::string> texts() {
    std::vector<std::string> payloads;
    for (auto& f : take_frames(c())) payloads.push_back(f.payload);
    return payloads;
  }

  ServerConfig config;
  ShardMetrics metrics;
  core::KeyedCounters per_ip;
  ConnectionTable table{kShard, config.outbound_cap_bytes, 10, per_ip, metrics};
  FrameEncoder encoder;
  Replies replies{table, encoder};
  FakeOutbound out;
  MemberRooms members{config, table, replies, out, metrics};
  ConnRef conn;
};

// A stalled owner must not let joins pile up in this shard's mailbox to it: refused at once.
TEST_F(MemberFixture, JoinWhileTheOwnerIsBehindIsRefusedOverloadedAndSendsNothing) {
  out.owners_behind = true;
  proto::ClientMessage m = join_message();
  members.join(c(), m);
  EXPECT_TRUE(out.sent<JoinRoom>().empty());
  EXPECT_TRUE(c().channels.empty());
  std::vector<std::string> got = texts();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("\"overloaded\""), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("\"error\""), std::string::npos) << got[0];
}

TEST_F(MemberFixture, JoinAnsweredByTheOwnerRepliesOkThenPresenceStateAndDelivers) {
  JoinRoom j = join();
  EXPECT_EQ(j.user_id, "ann");
  EXPECT_TRUE(texts().empty()) << "no reply before the owner answered";

  members.on_join_accepted(accept(j, false));
  auto got = texts();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("phx_reply"), std::string::npos);
  EXPECT_NE(got[0].find("\"ok\""), std::string::npos);
  EXPECT_EQ(got[1], "STATE");
  EXPECT_EQ(members.local_members("lobby"), 1u);

  RoomBroadcast b = broadcast(1, "M1");
  const std::byte* shared = b.json.data();
  members.on_broadcast(std::move(b));
  iovec iov[OutboundQueue::kMaxIov];
  ASSERT_EQ(c().out.gather(iov), 1u);
  EXPECT_EQ(iov[0].iov_base, shared) << "the owner's frame itself, not a copy";
  EXPECT_EQ(texts(), std::vector<std::string>{"M1"});
}

TEST_F(MemberFixture, CatchupHoldsLiveFramesThenReleasesThemAfterTheMissedOnesInOrder) {
  JoinRoom j = join(2);
  members.on_join_accepted(accept(j, true));
  EXPECT_TRUE(texts().empty()) << "a recovering join is answered once its catch-up is in";

  members.on_broadcast(broadcast(4, "LIVE4"));  // covered by the catch-up (upto 4)
  members.on_broadcast(broadcast(0, "DIFF"));   // not a message: always delivered
  members.on_broadcast(broadcast(5, "LIVE5"));
  EXPECT_TRUE(texts().empty()) << "held while catching up";
  EXPECT_GT(c().held_bytes, 0u);

  members.on_catchup_ready(catchup(j, true, {message(3), message(4)}));
  auto got = texts();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_NE(got[0].find("\"recovered\":true"), std::string::npos) << got[0];
  EXPECT_EQ(got[1], "STATE");
  EXPECT_NE(got[2].find("missed 3"), std::string::npos);
  EXPECT_NE(got[3].find("missed 4"), std::string::npos);
  EXPECT_EQ(got[4], "DIFF");
  EXPECT_EQ(got[5], "LIVE5");
  EXPECT_EQ(c().held_bytes, 0u);
}

// Joiners recovering the same range in one storage batch share its messages (SharedMessages);
// their shard encodes them once: both sockets queue the same missed frame, not two copies.
TEST_F(MemberFixture, JoinersSharingACatchupShareItsEncodedFrames) {
  Connection& other = table.allocate(-1);
  other.phase = Phase::WebSocket;
  other.claims = SocketIdentity("bob", "Bob", 0);
  const ConnRef other_ref = other.ref;
  JoinRoom ja = join(2);
  proto::ClientMessage m = join_message();
  m.last_seen_id = 2;
  members.join(other, m);
  JoinRoom jb = out.sent<JoinRoom>().back().second;
  members.on_join_accepted(accept(ja, true));
  members.on_join_accepted(accept(jb, true));

  CatchupReady ra = catchup(ja, true, {message(3), message(4)});
  CatchupReady rb = catchup(jb, true, {});
  rb.conn = other_ref;
  rb.messages = ra.messages;  // the storage thread's one read
  members.on_catchup_ready(std::move(ra));
  members.on_catchup_ready(std::move(rb));
  // Each queue: reply, state, missed 3, missed 4.
  iovec a[OutboundQueue::kMaxIov];
  iovec b[OutboundQueue::kMaxIov];
  ASSERT_EQ(c().out.gather(a), 4u);
  ASSERT_EQ(table.lookup(other_ref)->out.gather(b), 4u);
  EXPECT_EQ(a[2].iov_base, b[2].iov_base);
  EXPECT_EQ(a[3].iov_base, b[3].iov_base);
  auto got = texts();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_NE(got[2].find("missed 3"), std::string::npos);
  members.end_of_turn();  // nothing is kept past the turn
}

TEST_F(MemberFixture, FailedCatchupFailsTheJoinAndTellsTheOwner) {
  JoinRoom j = join(2);
  members.on_join_accepted(accept(j, true));
  out.to_shards.clear();
  members.on_catchup_ready(catchup(j, false, {}));
  auto got = texts();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("storage unavailable"), std::string::npos);
  EXPECT_EQ(out.sent<LeaveRoom>().size(), 1u);
  EXPECT_EQ(members.local_members("lobby"), 0u);
  EXPECT_TRUE(c().channels.empty());
}

TEST_F(MemberFixture, LeaveRepliesClosesTheChannelAndTellsTheOwner) {
  members.on_join_accepted(accept(join(), false));
  texts();
  proto::ClientMessage m;
  m.event = proto::ClientEvent::Leave;
  m.topic = "room:lobby";
  m.join_ref = "1";
  m.ref = "2";
  members.leave(c(), m);
  auto got = texts();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("phx_reply"), std::string::npos);
  EXPECT_NE(got[1].find("phx_close"), std::string::npos);
  EXPECT_EQ(out.sent<LeaveRoom>().size(), 1u);
  members.on_broadcast(broadcast(1, "M1"));
  EXPECT_TRUE(texts().empty()) << "nothing delivered after the leave";
}

}  // namespace
}  // namespace rtchat::server
