// delete_msg, msg_deleted and tombstones in both wire formats (docs/protocol.md "Moderation").
#include <gtest/gtest.h>

#include <string>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::proto {
namespace {

ChatMessage delete_event() {
  ChatMessage e;
  e.id = 9;
  e.room = "lobby";
  e.user_id = "mod \"1\"";
  e.delete_target = 4;
  return e;
}

TEST(ModerationCodec, JsonDeleteMsgPush) {
  ClientMessage m;
  ASSERT_EQ(phoenix::decode_client(R"(["1","2","room:lobby","delete_msg",{"id":4}])", m),
            DecodeError::None);
  EXPECT_EQ(m.event, ClientEvent::DeleteMsg);
  EXPECT_TRUE(m.payload_valid);
  EXPECT_EQ(m.message_id, 4);
  for (const char* bad : {R"(["1","2","room:lobby","delete_msg",{}])",
                          R"(["1","2","room:lobby","delete_msg",{"id":"4"}])",
                          R"(["1","2","room:lobby","delete_msg",{"id":1.5}])"}) {
    ASSERT_EQ(phoenix::decode_client(bad, m), DecodeError::None) << bad;
    EXPECT_EQ(m.event, ClientEvent::DeleteMsg);
    EXPECT_FALSE(m.payload_valid) << bad;
  }
  std::string out;
  m = ClientMessage{};
  m.event = ClientEvent::DeleteMsg;
  m.topic = "room:lobby";
  m.message_id = 12;
  phoenix::encode_client(m, out);
  EXPECT_EQ(out, R"([null,null,"room:lobby","delete_msg",{"id":12}])");
}

TEST(ModerationCodec, JsonMsgDeletedAndTombstone) {
  std::string out;
  phoenix::encode_msg_deleted("room:lobby", delete_event(), out);
  EXPECT_EQ(
      out,
      R"([null,null,"room:lobby","msg_deleted",{"id":4,"event_id":9,"deleted_by":"mod \"1\""}])");
  ServerMessage s;
  ASSERT_EQ(phoenix::decode_server(out, s), DecodeError::None);
  EXPECT_EQ(s.event, ServerEvent::MsgDeleted);
  EXPECT_EQ(s.message.id, 4);
  EXPECT_EQ(s.deleted_event_id, 9);
  EXPECT_EQ(s.user_id, "mod \"1\"");

  ChatMessage tomb{4, "lobby", "u1", "U1", "", 5, true, 0};
  out.clear();
  phoenix::encode_message_object(tomb, out);
  EXPECT_EQ(
      out, R"({"id":4,"room":"lobby","user_id":"u1","user":"U1","body":"","ts":5,"deleted":true})");
  out.clear();
  phoenix::encode_new_msg("room:lobby", tomb, out);
  ASSERT_EQ(phoenix::decode_server(out, s), DecodeError::None);
  EXPECT_TRUE(s.message.deleted);
  tomb.deleted = false;
  out.clear();
  phoenix::encode_message_object(tomb, out);
  EXPECT_EQ(out.find("deleted"), std::string::npos);  // plain messages are unchanged on the wire
}

TEST(ModerationCodec, BinaryRoundTrips) {
  ClientMessage push;
  push.event = ClientEvent::DeleteMsg;
  push.topic = "room:lobby";
  push.ref = "3";
  push.message_id = 77;
  std::string bytes;
  binary::encode_client(push, bytes);
  ClientMessage in;
  ASSERT_EQ(binary::decode_client(bytes, in), DecodeError::None);
  EXPECT_EQ(in.event, ClientEvent::DeleteMsg);
  EXPECT_EQ(in.message_id, 77);

  bytes.clear();
  binary::encode_msg_deleted("room:lobby", delete_event(), bytes);
  ServerMessage s;
  ASSERT_EQ(binary::decode_server(bytes, s), DecodeError::None);
  EXPECT_EQ(s.event, ServerEvent::MsgDeleted);
  EXPECT_EQ(s.event_name, "msg_deleted");
  EXPECT_EQ(s.message.id, 4);
  EXPECT_EQ(s.deleted_event_id, 9);
  EXPECT_EQ(s.user_id, "mod \"1\"");

  bytes.clear();
  binary::encode_new_msg("room:lobby", ChatMessage{4, "lobby", "u1", "U1", "", 5, true, 0}, bytes);
  ASSERT_EQ(binary::decode_server(bytes, s), DecodeError::None);
  EXPECT_TRUE(s.message.deleted);
}

}  // namespace
}  // namespace rtchat::proto
