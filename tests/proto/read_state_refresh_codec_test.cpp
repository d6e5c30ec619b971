// Issue 16's new events in both wire formats (docs/protocol.md "Read state", "Token refresh"):
// mark_read and refresh pushes, the read_state and token_expiring pushes, and the reply shapes
// (join with last_read_id/unread, mark_read, refresh). Each JSON frame is checked byte for byte
// and each message round-trips through both codecs to the same fields.
#include <gtest/gtest.h>

#include <string>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::proto {
namespace {

ClientMessage decode_json_client(const std::string& text) {
  ClientMessage m;
  EXPECT_EQ(phoenix::decode_client(text, m), DecodeError::None) << text;
  return m;
}

// Encodes with the client encoder of each format and decodes with the server decoder.
template <typename Check>
void round_trip_client(const ClientMessage& in, Check&& check) {
  std::string json, bin;
  phoenix::encode_client(in, json);
  binary::encode_client(in, bin);
  ClientMessage a, b;
  ASSERT_EQ(phoenix::decode_client(json, a), DecodeError::None) << json;
  ASSERT_EQ(binary::decode_client(bin, b), DecodeError::None);
  check(a);
  check(b);
}

template <typename Check>
void round_trip_reply(const Reply& in, const std::string& expected_json, Check&& check) {
  std::string json, bin;
  phoenix::encode_reply(in, json);
  binary::encode_reply(in, bin);
  EXPECT_EQ(json, expected_json);
  ServerMessage a, b;
  ASSERT_EQ(phoenix::decode_server(json, a), DecodeError::None) << json;
  ASSERT_EQ(binary::decode_server(bin, b), DecodeError::None);
  check(a.reply.body);
  check(b.reply.body);
}

Reply reply_of(ReplyBody::Kind kind) {
  Reply r;
  r.join_ref = "1";
  r.ref = "2";
  r.topic = "room:lobby";
  r.body.kind = kind;
  return r;
}

TEST(ReadStateCodec, MarkReadPushDecodesTheIdAndRefusesBadPayloads) {
  auto ok = decode_json_client(R"(["1","2","room:lobby","mark_read",{"id":42}])");
  EXPECT_EQ(ok.event, ClientEvent::MarkRead);
  EXPECT_TRUE(ok.payload_valid);
  EXPECT_EQ(ok.read_id, 42);
  for (const char* payload :
       {"{}", R"({"id":"4"})", R"({"id":-1})", R"({"id":1.5})", R"({"id":null})"}) {
    auto bad =
        decode_json_client(std::string(R"(["1","2","room:lobby","mark_read",)") + payload + "]");
    EXPECT_EQ(bad.event, ClientEvent::MarkRead);
    EXPECT_FALSE(bad.payload_valid) << payload;
  }
  ClientMessage in;
  in.join_ref = "1";
  in.ref = "2";
  in.topic = "room:lobby";
  in.event = ClientEvent::MarkRead;
  in.read_id = 7;
  round_trip_client(in, [](const ClientMessage& m) {
    EXPECT_EQ(m.event, ClientEvent::MarkRead);
    EXPECT_EQ(m.event_name, "mark_read");
    EXPECT_EQ(m.read_id, 7);
    EXPECT_EQ(m.topic, "room:lobby");
  });
}

TEST(ReadStateCodec, RefreshPushCarriesTheTokenOnTopicPhoenix) {
  auto ok = decode_json_client(R"([null,"5","phoenix","refresh",{"token":"a.b.c"}])");
  EXPECT_EQ(ok.event, ClientEvent::Refresh);
  EXPECT_EQ(ok.token, "a.b.c");
  EXPECT_TRUE(ok.payload_valid);
  EXPECT_FALSE(decode_json_client(R"([null,"5","phoenix","refresh",{}])").payload_valid);
  EXPECT_FALSE(decode_json_client(R"([null,"5","phoenix","refresh",{"token":1}])").payload_valid);
  ClientMessage in;
  in.ref = "5";
  in.topic = "phoenix";
  in.event = ClientEvent::Refresh;
  in.token = "x.y.z";
  round_trip_client(in, [](const ClientMessage& m) {
    EXPECT_EQ(m.event, ClientEvent::Refresh);
    EXPECT_EQ(m.topic, "phoenix");
    EXPECT_EQ(m.token, "x.y.z");
  });
  // The encoders keep the message's topic (fuzz_binary_decode found the binary one forcing
  // "phoenix", so a decoded refresh on a room topic did not survive a round trip); the server
  // only honours a refresh on "phoenix".
  in.topic = "room:lobby";
  round_trip_client(in, [](const ClientMessage& m) { EXPECT_EQ(m.topic, "room:lobby"); });
}

TEST(ReadStateCodec, JoinReplyCarriesReadStateWithAndWithoutRecovered) {
  Reply plain = reply_of(ReplyBody::Kind::Join);
  plain.body.last_read_id = 12;
  plain.body.unread = 100;
  round_trip_reply(
      plain,
      R"(["1","2","room:lobby","phx_reply",{"status":"ok","response":{"last_read_id":12,"unread":100}}])",
      [](const ReplyBody& b) {
        EXPECT_EQ(b.kind, ReplyBody::Kind::Join);
        EXPECT_EQ(b.last_read_id, 12);
        EXPECT_EQ(b.unread, 100);
        EXPECT_FALSE(b.recovered);
      });
  Reply recovered = plain;
  recovered.body.recovered = true;
  round_trip_reply(
      recovered,
      R"(["1","2","room:lobby","phx_reply",{"status":"ok","response":{"recovered":true,"last_read_id":12,"unread":100}}])",
      [](const ReplyBody& b) {
        EXPECT_EQ(b.kind, ReplyBody::Kind::Join);
        EXPECT_EQ(b.recovered, true);
        EXPECT_EQ(b.last_read_id, 12);
      });
}

TEST(ReadStateCodec, MarkReadAndRefreshReplies) {
  Reply mark = reply_of(ReplyBody::Kind::MarkRead);
  mark.body.last_read_id = 9;
  round_trip_reply(
      mark, R"(["1","2","room:lobby","phx_reply",{"status":"ok","response":{"last_read_id":9}}])",
      [](const ReplyBody& b) {
        EXPECT_EQ(b.kind, ReplyBody::Kind::MarkRead);
        EXPECT_EQ(b.last_read_id, 9);
      });
  Reply refresh = reply_of(ReplyBody::Kind::Refresh);
  refresh.join_ref.reset();
  refresh.topic = "phoenix";
  refresh.body.exp = 1764300000;
  round_trip_reply(
      refresh, R"([null,"2","phoenix","phx_reply",{"status":"ok","response":{"exp":1764300000}}])",
      [](const ReplyBody& b) {
        EXPECT_EQ(b.kind, ReplyBody::Kind::Refresh);
        EXPECT_EQ(b.exp, 1764300000);
      });
}

TEST(ReadStateCodec, ReadStateAndTokenExpiringPushes) {
  std::string json, bin;
  phoenix::encode_read_state("room:lobby", 33, json);
  EXPECT_EQ(json, R"([null,null,"room:lobby","read_state",{"last_read_id":33}])");
  binary::encode_read_state("room:lobby", 33, bin);
  for (bool binary_format : {false, true}) {
    ServerMessage m;
    ASSERT_EQ(binary_format ? binary::decode_server(bin, m) : phoenix::decode_server(json, m),
              DecodeError::None);
    EXPECT_EQ(m.event, ServerEvent::ReadState);
    EXPECT_EQ(m.event_name, "read_state");
    EXPECT_EQ(m.topic, "room:lobby");
    EXPECT_EQ(m.last_read_id, 33);
  }
  json.clear();
  bin.clear();
  phoenix::encode_token_expiring(1764300060, json);
  EXPECT_EQ(json, R"([null,null,"phoenix","token_expiring",{"exp":1764300060}])");
  binary::encode_token_expiring(1764300060, bin);
  for (bool binary_format : {false, true}) {
    ServerMessage m;
    ASSERT_EQ(binary_format ? binary::decode_server(bin, m) : phoenix::decode_server(json, m),
              DecodeError::None);
    EXPECT_EQ(m.event, ServerEvent::TokenExpiring);
    EXPECT_EQ(m.topic, "phoenix");
    EXPECT_EQ(m.exp, 1764300060);
  }
}

}  // namespace
}  // namespace rtchat::proto
