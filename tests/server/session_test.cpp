// The session against recorded client frames, without a ring: bytes in -> the frames queued on
// the connection; a bad frame -> its close code and reason, after the replies already owed.
#include "server/shard/session.h"

#include <gtest/gtest.h>

#include "support/shard_fakes.h"

namespace rtchat::server {
namespace {

using testing::client_frame;
using testing::FakeOutbound;
using testing::FakeSocket;
using testing::take_frames;
using testing::WsFrame;

constexpr uint8_t kText = 0x1;
constexpr uint8_t kBinary = 0x2;
constexpr uint8_t kClose = 0x8;

struct SessionFixture : ::testing::Test {
  SessionFixture() {
    config.shards = 2;
    Connection& c = table.allocate(-1);
    c.claims = SocketIdentity("ann", "Ann", 0);
    conn = c.ref;
    table.http_opened();
    session.start(c, {});
  }
  Connection& c() { return *table.lookup(conn); }
  std::vector<WsFrame> feed(std::string_view bytes) {
    session.on_bytes(c(), bytes);
    return take_frames(c());
  }
  static uint16_t close_code(const WsFrame& f) {
    return static_cast<uint16_t>((static_cast<uint8_t>(f.payload[0]) << 8) |
                                 static_cast<uint8_t>(f.payload[1]));
  }

  ServerConfig config;
  ShardMetrics metrics;
  core::KeyedCounters per_ip;
  core::KeyedCounters per_user;
  ConnectionTable table{0, config.outbound_cap_bytes, 50, per_ip, metrics};
  FrameEncoder encoder;
  Replies replies{table, encoder};
  FakeOutbound out;
  FakeSocket socket;
  MemberRooms members{config, table, replies, out, metrics};
  Session session{0, config, table, replies, members, out, socket, per_user, metrics};
  ConnRef conn;
};

TEST_F(SessionFixture, HeartbeatFrameGetsItsReply) {
  auto got = feed(client_frame(kText, R"([null,"7","phoenix","heartbeat",{}])"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, kText);
  EXPECT_EQ(got[0].payload, R"([null,"7","phoenix","phx_reply",{"status":"ok","response":{}}])");
  EXPECT_TRUE(socket.closed_after_flush.empty());
}

TEST_F(SessionFixture, JoinGoesToTheOwnerAndNewMsgIsPublishedThere) {
  EXPECT_TRUE(feed(client_frame(kText, R"(["1","1","room:lobby","phx_join",{}])")).empty());
  auto joins = out.sent<JoinRoom>();
  ASSERT_EQ(joins.size(), 1u);
  JoinAccepted a;
  a.room = "lobby";
  a.conn = conn;
  a.join_id = joins[0].second.join_id;
  a.join_ref = "1";
  a.presence_state = make_ws_frame(WsOpcode::Text, "STATE");
  members.on_join_accepted(std::move(a));
  take_frames(c());

  feed(client_frame(kText, R"(["1","2","room:lobby","new_msg",{"body":"hi"}])"));
  auto published = out.sent<Publish>();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].first, owner_shard("lobby", 2));
  EXPECT_EQ(published[0].second.body, "hi");
  EXPECT_EQ(published[0].second.user_id, "ann");
  EXPECT_EQ(published[0].second.ref, "2");
}

TEST_F(SessionFixture, NotAnEnvelopeClosesWith1007AndAReason) {
  auto got = feed(client_frame(kText, "hello"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, kClose);
  EXPECT_EQ(close_code(got[0]), 1007);
  EXPECT_EQ(got[0].payload.substr(2), close_reason::kNotEnvelope);
  EXPECT_EQ(socket.closed_after_flush.size(), 1u);
}

TEST_F(SessionFixture, InvalidUtf8IsWslaysCloseGivenItsReason) {
  auto got = feed(client_frame(kText, "[\xff\xfe]"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(close_code(got[0]), 1007);
  EXPECT_EQ(got[0].payload.substr(2), close_reason::kInvalidUtf8);
}

TEST_F(SessionFixture, BinaryFrameOnAJsonSocketClosesWith1003) {
  auto got = feed(client_frame(kBinary, "x"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(close_code(got[0]), 1003);
}

TEST_F(SessionFixture, ReplyOwedBeforeABadFrameGoesOutFirstAndNothingAfterTheClose) {
  std::string bytes = client_frame(kText, R"([null,"1","phoenix","heartbeat",{}])") +
                      client_frame(kText, "hello") +
                      client_frame(kText, R"([null,"2","phoenix","heartbeat",{}])");
  auto got = feed(bytes);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].payload.find("phx_reply"), std::string::npos);
  EXPECT_EQ(got[1].opcode, kClose);
  EXPECT_EQ(close_code(got[1]), 1007);
}

TEST_F(SessionFixture, UnmaskedFrameHeaderClosesWith1002BeforeWslaySeesIt) {
  auto got = feed(std::string("\x81\x02hi", 4));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(close_code(got[0]), 1002);
  EXPECT_EQ(got[0].payload.substr(2), close_reason::kUnmaskedFrame);
}

TEST_F(SessionFixture, ServerDecidedCloseOutsideARead) {
  session.close(c(), Close::HeartbeatTimeout);
  auto got = take_frames(c());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(close_code(got[0]), 1008);
  EXPECT_EQ(got[0].payload.substr(2), close_reason::kHeartbeatTimeout);
  EXPECT_EQ(socket.closed_after_flush.size(), 1u);
}

TEST_F(SessionFixture, PingIsAnsweredWithPong) {
  auto got = feed(client_frame(0x9, "p"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, 0xA);
  EXPECT_EQ(got[0].payload, "p");
}

}  // namespace
}  // namespace rtchat::server
