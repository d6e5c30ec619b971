// Tests for proto/phoenix_codec.h against the reference vectors of
// shared/reference/phoenix-channels-protocol.md section 8 and chat-events.md.
//
// Our encoders fix two details the reference traces leave open: presence metas are written as
// phx_ref, online_at, name[, device] (the traces have online_at, name, phx_ref) and new_msg
// carries user_id (chat-events.md). Encoder tests use the vectors with that key order; the
// decode_server tests read the traced frames verbatim.
#include "proto/phoenix_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace rtchat::proto::phoenix {
namespace {

using namespace std::string_literals;

ClientMessage decode_ok(std::string_view text) {
  ClientMessage msg;
  EXPECT_EQ(decode_client(text, msg), DecodeError::None) << text;
  return msg;
}

ServerMessage decode_server_ok(std::string_view text) {
  ServerMessage msg;
  EXPECT_EQ(decode_server(text, msg), DecodeError::None) << text;
  return msg;
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

PresenceMeta meta(std::string phx_ref, int64_t online_at, std::string name,
                  std::string device = "") {
  return PresenceMeta{std::move(phx_ref), online_at, std::move(name), std::move(device)};
}

// ---------------------------------------------------------------- client vectors (decode)

struct ClientVector {
  const char* name;
  std::string_view frame;
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  ClientEvent event;
  std::string event_name;
  std::string body;
};

class ClientVectorTest : public ::testing::TestWithParam<ClientVector> {};

TEST_P(ClientVectorTest, DecodesReferenceFrame) {
  const ClientVector& v = GetParam();
  ClientMessage msg = decode_ok(v.frame);
  EXPECT_EQ(msg.join_ref, v.join_ref);
  EXPECT_EQ(msg.ref, v.ref);
  EXPECT_EQ(msg.topic, v.topic);
  EXPECT_EQ(msg.event, v.event);
  EXPECT_EQ(msg.event_name, v.event_name);
  EXPECT_EQ(msg.body, v.body);
  EXPECT_TRUE(msg.payload_valid);
}

INSTANTIATE_TEST_SUITE_P(
    Section8, ClientVectorTest,
    ::testing::Values(
        ClientVector{"Heartbeat_8_2", R"([null,"6","phoenix","heartbeat",{}])", std::nullopt, "6",
                     "phoenix", ClientEvent::Heartbeat, "heartbeat", ""},
        ClientVector{"Join_8_3", R"(["5","5","room:lobby","phx_join",{}])", "5", "5", "room:lobby",
                     ClientEvent::Join, "phx_join", ""},
        ClientVector{"JoinRefused_8_4", R"(["3","3","room:secret","phx_join",{}])", "3", "3",
                     "room:secret", ClientEvent::Join, "phx_join", ""},
        ClientVector{"JoinUnmatched_8_4", R"(["10","10","nosuch:topic","phx_join",{}])", "10", "10",
                     "nosuch:topic", ClientEvent::Join, "phx_join", ""},
        ClientVector{"NewMsg_8_5",
                     R"(["5","7","room:lobby","new_msg",{"body":"hello from alice"}])", "5", "7",
                     "room:lobby", ClientEvent::NewMsg, "new_msg", "hello from alice"},
        ClientVector{"NewMsgEmpty_8_6", R"(["5","9","room:lobby","new_msg",{"body":""}])", "5", "9",
                     "room:lobby", ClientEvent::NewMsg, "new_msg", ""},
        ClientVector{"NewMsgNullJoinRef_8_7", R"([null,"10","room:lobby","new_msg",{"body":"x"}])",
                     std::nullopt, "10", "room:lobby", ClientEvent::NewMsg, "new_msg", "x"},
        ClientVector{"NewMsgStale_8_7", R"(["1","3","room:x","new_msg",{"body":"stale"}])", "1",
                     "3", "room:x", ClientEvent::NewMsg, "new_msg", "stale"},
        ClientVector{"Leave_8_8", R"(["5","6","room:lobby","phx_leave",{}])", "5", "6",
                     "room:lobby", ClientEvent::Leave, "phx_leave", ""},
        ClientVector{"LeaveUnknown_8_8", R"(["10","11","nosuch:topic","phx_leave",{}])", "10", "11",
                     "nosuch:topic", ClientEvent::Leave, "phx_leave", ""},
        ClientVector{"Rejoin_8_10", R"(["12","12","room:lobby","phx_join",{}])", "12", "12",
                     "room:lobby", ClientEvent::Join, "phx_join", ""},
        ClientVector{"DuplicateJoin_8_11", R"(["2","2","room:x","phx_join",{}])", "2", "2",
                     "room:x", ClientEvent::Join, "phx_join", ""},
        ClientVector{"Typing", R"(["5","8","room:lobby","typing",{}])", "5", "8", "room:lobby",
                     ClientEvent::Typing, "typing", ""},
        ClientVector{"History", R"(["5","8","room:lobby","history",{"before_id":9,"limit":2}])",
                     "5", "8", "room:lobby", ClientEvent::History, "history", ""},
        ClientVector{"UnknownEvent", R"(["5","8","room:lobby","shout",{"x":1}])", "5", "8",
                     "room:lobby", ClientEvent::Other, "shout", ""},
        ClientVector{"ExtraElementsIgnored", R"(["5","8","room:lobby","typing",{},1,[2],"x"])", "5",
                     "8", "room:lobby", ClientEvent::Typing, "typing", ""},
        ClientVector{"WhitespaceAround",
                     " \n[ null , \"1\" , \"phoenix\" , \"heartbeat\" , { } ]\t", std::nullopt, "1",
                     "phoenix", ClientEvent::Heartbeat, "heartbeat", ""},
        ClientVector{"RefsAreOpaqueStrings", R"(["007","1e3","room:a","phx_leave",{}])", "007",
                     "1e3", "room:a", ClientEvent::Leave, "phx_leave", ""},
        ClientVector{"EscapedTopicAndBody",
                     R"(["1","2","room:\u0061","new_msg",{"body":"a\"b\\c\n\u00e9\ud83d\ude00"}])",
                     "1", "2", "room:a", ClientEvent::NewMsg, "new_msg",
                     "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80"}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

// ---------------------------------------------------------------- bad input (decode_client)

struct BadInput {
  const char* name;
  std::string frame;
  DecodeError expected;
};

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, YieldsDecodeError) {
  const BadInput& v = GetParam();
  ClientMessage msg;
  EXPECT_EQ(decode_client(v.frame, msg), v.expected);
  ServerMessage smsg;
  EXPECT_EQ(decode_server(v.frame, smsg), v.expected);
}

std::string deep_nesting(int depth) {
  return R"([null,"1","room:a","new_msg",{"body":"x","deep":)" + std::string(depth, '[') +
         std::string(depth, ']') + "}]";
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadInputTest,
    ::testing::Values(
        BadInput{"Empty", "", DecodeError::NotJson},
        BadInput{"OnlyWhitespace", "  \n ", DecodeError::NotJson},
        BadInput{"PlainText", "hello", DecodeError::NotJson},
        BadInput{"Truncated", R"([null,"1","room:a","new_msg",{"body":"x")", DecodeError::NotJson},
        BadInput{"TruncatedString", R"([null,"1","room:a","new_msg",{"body":"x)",
                 DecodeError::NotJson},
        BadInput{"TrailingGarbage", R"([null,"1","phoenix","heartbeat",{}] x)",
                 DecodeError::NotJson},
        BadInput{"TwoDocuments", R"([null,"1","phoenix","heartbeat",{}][])", DecodeError::NotJson},
        BadInput{"SingleQuotes", R"(['1','1','room:a','phx_join',{}])", DecodeError::NotJson},
        BadInput{"TrailingComma", R"([null,"1","phoenix","heartbeat",{},])", DecodeError::NotJson},
        BadInput{"DeepNesting", deep_nesting(5000), DecodeError::NotJson},
        BadInput{"InvalidUtf8Byte", "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"\xff\"}]",
                 DecodeError::NotJson},
        BadInput{"OverlongUtf8", "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"\xc0\xaf\"}]",
                 DecodeError::NotJson},
        BadInput{"Utf8Surrogate", "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"\xed\xa0\x80\"}]",
                 DecodeError::NotJson},
        BadInput{"TruncatedUtf8", "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"\xe2\x82\"}]",
                 DecodeError::NotJson},
        BadInput{"InvalidUtf8OutsideStrings", "[null,\"1\",\"room:a\",\"typing\",{}]\xff",
                 DecodeError::NotJson},
        BadInput{"LoneEscapedSurrogate", R"([null,"1","room:a","new_msg",{"body":"\ud800"}])",
                 DecodeError::NotJson},
        BadInput{"RawControlCharInString",
                 "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"\x01\"}]", DecodeError::NotJson},
        BadInput{"HugeExponent", R"([null,"1","room:a","history",{"limit":1e999}])",
                 DecodeError::NotJson},
        // simdjson refuses integers beyond 64 bits outright (BIGINT_ERROR), so the frame is closed
        // like any unparseable one rather than answered with "invalid params".
        BadInput{
            "IntegerBeyond64Bits",
            R"([null,"1","room:a","phx_join",{"last_seen_id":123456789012345678901234567890}])",
            DecodeError::NotJson},
        BadInput{"FourElements", R"([null,"1","phoenix","heartbeat"])", DecodeError::NotEnvelope},
        BadInput{"EmptyArray", "[]", DecodeError::NotEnvelope},
        BadInput{"ObjectInsteadOfArray",
                 R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"})",
                 DecodeError::NotEnvelope},
        BadInput{"Scalar", "42", DecodeError::NotEnvelope},
        BadInput{"StringDocument", R"("[null,\"1\",\"phoenix\",\"heartbeat\",{}]")",
                 DecodeError::NotEnvelope},
        BadInput{"NumberRefs", R"([5,7,"room:a","new_msg",{"body":"x"}])",
                 DecodeError::NotEnvelope},
        BadInput{"NumberRef", R"(["5",7,"room:a","new_msg",{"body":"x"}])",
                 DecodeError::NotEnvelope},
        BadInput{"BoolJoinRef", R"([true,"7","room:a","new_msg",{"body":"x"}])",
                 DecodeError::NotEnvelope},
        BadInput{"NullTopic", R"([null,"1",null,"heartbeat",{}])", DecodeError::NotEnvelope},
        BadInput{"NumberTopic", R"([null,"1",3,"heartbeat",{}])", DecodeError::NotEnvelope},
        BadInput{"NullEvent", R"([null,"1","phoenix",null,{}])", DecodeError::NotEnvelope},
        BadInput{"ObjectEvent", R"([null,"1","phoenix",{},{}])", DecodeError::NotEnvelope},
        BadInput{"PayloadArray", R"([null,"1","room:a","new_msg",["x"]])",
                 DecodeError::PayloadNotObject},
        BadInput{"PayloadNull", R"([null,"1","phoenix","heartbeat",null])",
                 DecodeError::PayloadNotObject},
        BadInput{"PayloadString", R"([null,"1","room:a","new_msg","hello"])",
                 DecodeError::PayloadNotObject}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(PhoenixCodec, AcceptsModerateNestingInsidePayload) {
  ClientMessage msg;
  EXPECT_EQ(decode_client(deep_nesting(100), msg), DecodeError::None);
  EXPECT_EQ(msg.body, "x");
}

TEST(PhoenixCodec, RejectsNulInsideFrameBytes) {
  ClientMessage msg;
  const std::string frame = "[null,\"1\",\"room:a\",\"new_msg\",{\"body\":\"a\0b\"}]"s;
  EXPECT_EQ(decode_client(frame, msg), DecodeError::NotJson);
}

TEST(PhoenixCodec, DecodeResetsPreviousMessage) {
  ClientMessage msg = decode_ok(R"(["1","2","room:a","phx_join",{"last_seen_id":3,"device":"p"}])");
  ASSERT_TRUE(msg.last_seen_id);
  ASSERT_EQ(decode_client(R"([null,"3","phoenix","heartbeat",{}])", msg), DecodeError::None);
  EXPECT_FALSE(msg.last_seen_id);
  EXPECT_FALSE(msg.device);
  EXPECT_FALSE(msg.join_ref);
  EXPECT_EQ(msg.event, ClientEvent::Heartbeat);

  ASSERT_EQ(decode_client(R"(["1","4","room:a","history",{"before_id":7,"limit":"x"}])", msg),
            DecodeError::None);
  ASSERT_FALSE(msg.payload_valid);
  ASSERT_EQ(decode_client(R"(["1","5","room:a","new_msg",{"body":"hi"}])", msg), DecodeError::None);
  EXPECT_TRUE(msg.payload_valid);
  EXPECT_FALSE(msg.before_id);
  EXPECT_EQ(msg.limit, 50);
  EXPECT_EQ(msg.body, "hi");
  ASSERT_EQ(decode_client(R"(["1","6","room:a","typing",{}])", msg), DecodeError::None);
  EXPECT_EQ(msg.body, "");
}

// ---------------------------------------------------------------- payload validation

struct PayloadCase {
  const char* name;
  std::string payload;  // spliced into a frame of the given event
  const char* event;
  bool valid;
};

class PayloadTest : public ::testing::TestWithParam<PayloadCase> {};

TEST_P(PayloadTest, SetsPayloadValidity) {
  const PayloadCase& c = GetParam();
  const std::string frame = R"(["1","2","room:a",")"s + c.event + R"(",)" + c.payload + "]";
  ClientMessage msg = decode_ok(frame);
  EXPECT_EQ(msg.payload_valid, c.valid) << frame;
}

INSTANTIATE_TEST_SUITE_P(
    Table, PayloadTest,
    ::testing::Values(
        PayloadCase{"JoinEmpty", "{}", "phx_join", true},
        PayloadCase{"JoinLastSeen", R"({"last_seen_id":123})", "phx_join", true},
        PayloadCase{"JoinLastSeenZero", R"({"last_seen_id":0})", "phx_join", true},
        PayloadCase{"JoinLastSeenNull", R"({"last_seen_id":null})", "phx_join", true},
        PayloadCase{"JoinLastSeenNegative", R"({"last_seen_id":-1})", "phx_join", false},
        PayloadCase{"JoinLastSeenString", R"({"last_seen_id":"123"})", "phx_join", false},
        PayloadCase{"JoinLastSeenFloat", R"({"last_seen_id":1.5})", "phx_join", false},
        PayloadCase{"JoinLastSeenAboveInt64", R"({"last_seen_id":18446744073709551615})",
                    "phx_join", false},
        PayloadCase{"JoinDevice", R"({"device":"phone"})", "phx_join", true},
        PayloadCase{"JoinDevice32Chars", R"({"device":")" + std::string(32, 'd') + R"("})",
                    "phx_join", true},
        PayloadCase{"JoinDevice33Chars", R"({"device":")" + std::string(33, 'd') + R"("})",
                    "phx_join", false},
        PayloadCase{"JoinDevice32MultibyteChars",  // 32 chars, 64 bytes
                    R"({"device":")" +
                        [] {
                          std::string s;
                          for (int i = 0; i < 32; ++i) s += "\xc3\xa9";
                          return s;
                        }() +
                        R"("})",
                    "phx_join", true},
        PayloadCase{"JoinDeviceNumber", R"({"device":7})", "phx_join", false},
        PayloadCase{"JoinUnknownKeysIgnored", R"({"color":"red"})", "phx_join", true},
        PayloadCase{"NewMsgBody", R"({"body":"hi"})", "new_msg", true},
        PayloadCase{"NewMsgEmptyBody", R"({"body":""})", "new_msg", true},
        PayloadCase{"NewMsgNoBody", "{}", "new_msg", false},
        PayloadCase{"NewMsgNullBody", R"({"body":null})", "new_msg", false},
        PayloadCase{"NewMsgNumberBody", R"({"body":5})", "new_msg", false},
        PayloadCase{"NewMsgObjectBody", R"({"body":{"text":"hi"}})", "new_msg", false},
        PayloadCase{"HistoryEmpty", "{}", "history", true},
        PayloadCase{"HistoryNullBefore", R"({"before_id":null,"limit":10})", "history", true},
        PayloadCase{"HistoryLimitZeroIsServerPolicy", R"({"limit":0})", "history", true},
        PayloadCase{"HistoryLimitHugeIsServerPolicy", R"({"limit":100000})", "history", true},
        PayloadCase{"HistoryNegativeLimit", R"({"limit":-1})", "history", false},
        PayloadCase{"HistoryNegativeBefore", R"({"before_id":-5})", "history", false},
        PayloadCase{"HistoryStringLimit", R"({"limit":"10"})", "history", false},
        PayloadCase{"HistoryNullLimit", R"({"limit":null})", "history", false},
        PayloadCase{"HistoryFloatBefore", R"({"before_id":2.0})", "history", false},
        PayloadCase{"HistoryBoolBefore", R"({"before_id":true})", "history", false},
        PayloadCase{"TypingIgnoresPayload", R"({"anything":[1,2]})", "typing", true}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(PhoenixCodec, DecodesJoinParams) {
  ClientMessage msg =
      decode_ok(R"(["3","3","room:a","phx_join",{"last_seen_id":123,"device":"phone"}])");
  EXPECT_EQ(msg.last_seen_id, 123);
  EXPECT_EQ(msg.device, "phone");
}

TEST(PhoenixCodec, DecodesHistoryParamsWithDefaultLimit) {
  ClientMessage msg = decode_ok(R"(["3","4","room:a","history",{"before_id":124}])");
  EXPECT_EQ(msg.before_id, 124);
  EXPECT_EQ(msg.limit, 50);
  msg = decode_ok(R"(["3","4","room:a","history",{"before_id":null,"limit":200}])");
  EXPECT_FALSE(msg.before_id);
  EXPECT_EQ(msg.limit, 200);
}

// ---------------------------------------------------------------- server vectors (encode)

Reply reply(std::optional<std::string> join_ref, std::optional<std::string> ref, std::string topic,
            ReplyStatus status, ReplyBody body) {
  return Reply{std::move(join_ref), std::move(ref), std::move(topic), status, std::move(body)};
}

ReplyBody error_body(std::string reason) {
  ReplyBody b;
  b.kind = ReplyBody::Kind::Error;
  b.reason = std::move(reason);
  return b;
}

std::string encoded_reply(const Reply& r) {
  std::string out;
  encode_reply(r, out);
  return out;
}

TEST(PhoenixCodec, EncodesHeartbeatReply_8_2) {
  EXPECT_EQ(encoded_reply(reply(std::nullopt, "6", "phoenix", ReplyStatus::Ok, {})),
            R"([null,"6","phoenix","phx_reply",{"status":"ok","response":{}}])");
}

TEST(PhoenixCodec, EncodesJoinOkReply_8_3) {
  ReplyBody join;
  join.kind = ReplyBody::Kind::Join;
  EXPECT_EQ(encoded_reply(reply("5", "5", "room:lobby", ReplyStatus::Ok, join)),
            R"(["5","5","room:lobby","phx_reply",{"status":"ok","response":{}}])");
  join.recovered = true;
  EXPECT_EQ(encoded_reply(reply("5", "5", "room:lobby", ReplyStatus::Ok, join)),
            R"(["5","5","room:lobby","phx_reply",{"status":"ok","response":{"recovered":true}}])");
  join.recovered = false;
  EXPECT_EQ(encoded_reply(reply("5", "5", "room:lobby", ReplyStatus::Ok, join)),
            R"(["5","5","room:lobby","phx_reply",{"status":"ok","response":{"recovered":false}}])");
}

TEST(PhoenixCodec, EncodesJoinErrorReplies_8_4) {
  EXPECT_EQ(
      encoded_reply(reply("3", "3", "room:secret", ReplyStatus::Error, error_body("unauthorized"))),
      R"(["3","3","room:secret","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}])");
  EXPECT_EQ(
      encoded_reply(reply(std::nullopt, "10", "nosuch:topic", ReplyStatus::Error,
                          error_body("unmatched topic"))),
      R"([null,"10","nosuch:topic","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}])");
}

TEST(PhoenixCodec, EncodesPublishReplyAndBroadcast_8_5) {
  ReplyBody publish;
  publish.kind = ReplyBody::Kind::Publish;
  publish.id = 1;
  EXPECT_EQ(encoded_reply(reply("5", "7", "room:lobby", ReplyStatus::Ok, publish)),
            R"(["5","7","room:lobby","phx_reply",{"status":"ok","response":{"id":1}}])");

  std::string out;
  encode_new_msg("room:lobby", {1, "lobby", "u1", "alice", "hello from alice", 1795835823404}, out);
  EXPECT_EQ(
      out,
      R"([null,null,"room:lobby","new_msg",{"id":1,"room":"lobby","user_id":"u1","user":"alice","body":"hello from alice","ts":1795835823404}])");
}

TEST(PhoenixCodec, EncodesRejectedPushReply_8_6) {
  EXPECT_EQ(
      encoded_reply(reply("5", "9", "room:lobby", ReplyStatus::Error, error_body("invalid body"))),
      R"(["5","9","room:lobby","phx_reply",{"status":"error","response":{"reason":"invalid body"}}])");
}

TEST(PhoenixCodec, EncodesPresenceStateAndDiff_8_3) {
  const PresenceEntries alice = {{"alice", {meta("F5mwztsish", 1795835000609, "alice")}}};
  std::string out;
  encode_presence_state("5", "room:lobby", alice, out);
  EXPECT_EQ(
      out,
      R"(["5",null,"room:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"F5mwztsish","online_at":1795835000609,"name":"alice"}]}}])");
  out.clear();
  encode_presence_diff("room:lobby", PresenceDiff{alice, {}}, out);
  EXPECT_EQ(
      out,
      R"([null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"phx_ref":"F5mwztsish","online_at":1795835000609,"name":"alice"}]}},"leaves":{}}])");
}

TEST(PhoenixCodec, EncodesLeaveReplyCloseAndLeaveDiff_8_8) {
  EXPECT_EQ(encoded_reply(reply("5", "6", "room:lobby", ReplyStatus::Ok, {})),
            R"(["5","6","room:lobby","phx_reply",{"status":"ok","response":{}}])");
  std::string out;
  encode_close("5", "room:lobby", out);
  EXPECT_EQ(out, R"(["5","5","room:lobby","phx_close",{}])");
  out.clear();
  encode_presence_diff(
      "room:lobby", PresenceDiff{{}, {{"bob", {meta("F6mwztsisl", 1795835000613, "bob")}}}}, out);
  EXPECT_EQ(
      out,
      R"([null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":"F6mwztsisl","online_at":1795835000613,"name":"bob"}]}}}])");
}

TEST(PhoenixCodec, EncodesTwoUserPresenceState_8_9) {
  std::string out;
  encode_presence_state("5", "room:lobby",
                        {{"alice", {meta("F5mwztsish", 1795835000609, "alice")}},
                         {"bob", {meta("F6mwztsisl", 1795835000613, "bob")}}},
                        out);
  EXPECT_EQ(
      out,
      R"(["5",null,"room:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"F5mwztsish","online_at":1795835000609,"name":"alice"}]},"bob":{"metas":[{"phx_ref":"F6mwztsisl","online_at":1795835000613,"name":"bob"}]}}])");
}

TEST(PhoenixCodec, EncodesDeviceOnlyWhenNonEmpty) {
  std::string out;
  encode_presence_state(std::nullopt, "room:a",
                        {{"u1", {meta("r1", 1, "A", "phone"), meta("r2", 2, "A")}}}, out);
  EXPECT_EQ(
      out,
      R"([null,null,"room:a","presence_state",{"u1":{"metas":[{"phx_ref":"r1","online_at":1,"name":"A","device":"phone"},{"phx_ref":"r2","online_at":2,"name":"A"}]}}])");
}

// Metas take a fast path when no field needs escaping: the ones that do, or that are long, must
// come out exactly as the general encoder writes them.
TEST(PhoenixCodec, EncodesMetasNeedingEscapesOrLongFieldsExactly) {
  const std::string long_name(300, 'n');
  std::string out;
  encode_presence_state(
      std::nullopt, "room:a",
      {{"u1",
        {meta("r1", -5, "say \"hi\"\n", "tab\t"),
         meta("r2", 7,
              "a\xE2\x80\xA8"
              "b"),
         meta("r3", 1795835000609, long_name, "phone"), meta("r4", 0, "plain", "d\\")}}},
      out);
  EXPECT_EQ(out, std::string(R"([null,null,"room:a","presence_state",{"u1":{"metas":[)") +
                     R"({"phx_ref":"r1","online_at":-5,"name":"say \"hi\"\n","device":"tab\t"},)" +
                     R"({"phx_ref":"r2","online_at":7,"name":"a\u2028b"},)" +
                     R"({"phx_ref":"r3","online_at":1795835000609,"name":")" + long_name +
                     R"(","device":"phone"},)" +
                     R"({"phx_ref":"r4","online_at":0,"name":"plain","device":"d\\"}]}}])");
}

TEST(PhoenixCodec, EncodesEmptyPresenceDiffWithBothKeys) {
  std::string out;
  encode_presence_diff("room:a", {}, out);
  EXPECT_EQ(out, R"([null,null,"room:a","presence_diff",{"joins":{},"leaves":{}}])");
}

TEST(PhoenixCodec, EncodesCloseAndChannelError_8_10) {
  std::string out;
  encode_close("5", "room:lobby", out);
  EXPECT_EQ(out, R"(["5","5","room:lobby","phx_close",{}])");
  out.clear();
  encode_channel_error("5", "room:lobby", "channel_crash", out);
  EXPECT_EQ(out, R"(["5","5","room:lobby","phx_error",{"reason":"channel_crash"}])");
  out.clear();
  encode_close(std::nullopt, "room:lobby", out);
  EXPECT_EQ(out, R"([null,null,"room:lobby","phx_close",{}])");
}

TEST(PhoenixCodec, EncodesDuplicateJoinClose_8_11) {
  std::string out;
  encode_close("1", "room:x", out);
  EXPECT_EQ(out, R"(["1","1","room:x","phx_close",{}])");
}

TEST(PhoenixCodec, EncodesHistoryReply) {
  ReplyBody history;
  history.kind = ReplyBody::Kind::History;
  history.messages = {{3, "a", "u1", "A", "one", 10}, {4, "a", "u2", "B", "two", 11}};
  history.has_more = true;
  EXPECT_EQ(
      encoded_reply(reply("5", "8", "room:a", ReplyStatus::Ok, history)),
      R"(["5","8","room:a","phx_reply",{"status":"ok","response":{"messages":[{"id":3,"room":"a","user_id":"u1","user":"A","body":"one","ts":10},{"id":4,"room":"a","user_id":"u2","user":"B","body":"two","ts":11}],"has_more":true}}])");
  history.messages.clear();
  history.has_more = false;
  EXPECT_EQ(
      encoded_reply(reply("5", "8", "room:a", ReplyStatus::Ok, history)),
      R"(["5","8","room:a","phx_reply",{"status":"ok","response":{"messages":[],"has_more":false}}])");
}

TEST(PhoenixCodec, EncodesHistoryJsonForHttpApi) {
  std::string out;
  encode_history_json({{7, "r", "u", "U", "b", -1}}, false, out);
  EXPECT_EQ(
      out,
      R"({"messages":[{"id":7,"room":"r","user_id":"u","user":"U","body":"b","ts":-1}],"has_more":false})");
}

TEST(PhoenixCodec, EncodesTyping) {
  std::string out;
  encode_typing("room:lobby", "u42", "Alice", out);
  EXPECT_EQ(out, R"([null,null,"room:lobby","typing",{"user_id":"u42","user":"Alice"}])");
}

TEST(PhoenixCodec, EncodersAppendToExistingBuffer) {
  std::string out = "prefix|";
  encode_close("1", "t", out);
  EXPECT_EQ(out, R"(prefix|["1","1","t","phx_close",{}])");
}

TEST(PhoenixCodec, EncodesExtremeIntegers) {
  std::string out;
  encode_message_object({INT64_MIN, "", "", "", "", INT64_MAX}, out);
  EXPECT_EQ(
      out,
      R"({"id":-9223372036854775808,"room":"","user_id":"","user":"","body":"","ts":9223372036854775807})");
}

// ---------------------------------------------------------------- escaping

TEST(PhoenixCodec, EscapesQuotesAndBackslash) {
  EXPECT_EQ(json_string(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(json_string(""), R"("")");
  EXPECT_EQ(json_string("/"), R"("/")");
}

TEST(PhoenixCodec, EscapesEveryControlCharacter) {
  EXPECT_EQ(json_string("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(json_string("\x01\x1f"), R"("\u0001\u001f")");
  EXPECT_EQ(json_string("a\0b"s), R"("a\u0000b")");
  for (int c = 0; c < 0x20; ++c) {
    const std::string s(1, static_cast<char>(c));
    const std::string encoded = json_string(s);
    EXPECT_GE(encoded.size(), 4u) << c;
    for (char e : encoded) EXPECT_GE(static_cast<unsigned char>(e), 0x20) << c;
  }
  EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");  // DEL is legal in JSON strings
}

TEST(PhoenixCodec, PassesUnicodeAndEmojiThrough) {
  EXPECT_EQ(json_string("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c"),
            "\"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c\"");
  EXPECT_EQ(json_string("\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"),
            "\"\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\"");
}

TEST(PhoenixCodec, EscapesLineAndParagraphSeparators) {
  EXPECT_EQ(json_string("a\xe2\x80\xa8z\xe2\x80\xa9"), R"("a\u2028z\u2029")");
  // Neighbours sharing the lead bytes are left alone: U+2027, U+202A, U+20AC (euro).
  EXPECT_EQ(json_string("\xe2\x80\xa7\xe2\x80\xaa\xe2\x82\xac"),
            "\"\xe2\x80\xa7\xe2\x80\xaa\xe2\x82\xac\"");
  EXPECT_EQ(json_string("\xe2\x80"), "\"\xe2\x80\"");  // truncated sequence: no over-read
}

TEST(PhoenixCodec, EscapesEveryStringFieldOfEncodedFrames) {
  std::string out;
  encode_typing("room:\"", "u\n", "A\\", out);
  EXPECT_EQ(out, R"([null,null,"room:\"","typing",{"user_id":"u\n","user":"A\\"}])");
  out.clear();
  encode_reply(reply("\"", "\\", "t", ReplyStatus::Error, error_body("x\ty")), out);
  EXPECT_EQ(out, R"(["\"","\\","t","phx_reply",{"status":"error","response":{"reason":"x\ty"}}])");
}

TEST(PhoenixCodec, EscapedBodiesDecodeToOriginalBytes) {
  std::string body;
  for (int c = 1; c < 0x80; ++c) body.push_back(static_cast<char>(c));
  body += "\xe2\x80\xa8\xe2\x80\xa9\xf0\x9f\x98\x80\xc3\xa9"s;
  body.push_back('\0');
  std::string out;
  encode_new_msg("room:a", {1, "a", "u", "U", body, 2}, out);
  ServerMessage msg = decode_server_ok(out);
  EXPECT_EQ(msg.message.body, body);
}

// ---------------------------------------------------------------- decode_server

TEST(PhoenixCodec, DecodesReferenceServerReplies) {
  ServerMessage m =
      decode_server_ok(R"([null,"6","phoenix","phx_reply",{"status":"ok","response":{}}])");
  EXPECT_EQ(m.event, ServerEvent::Reply);
  EXPECT_FALSE(m.join_ref);
  EXPECT_EQ(m.ref, "6");
  EXPECT_EQ(m.reply.ref, "6");
  EXPECT_EQ(m.reply.topic, "phoenix");
  EXPECT_EQ(m.reply.status, ReplyStatus::Ok);
  EXPECT_EQ(m.reply.body.kind, ReplyBody::Kind::Empty);

  m = decode_server_ok(
      R"(["3","3","room:secret","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}])");
  EXPECT_EQ(m.reply.status, ReplyStatus::Error);
  EXPECT_EQ(m.reply.join_ref, "3");
  EXPECT_EQ(m.reply.body.kind, ReplyBody::Kind::Error);
  EXPECT_EQ(m.reply.body.reason, "unauthorized");

  m = decode_server_ok(R"(["5","7","room:lobby","phx_reply",{"status":"ok","response":{"id":1}}])");
  EXPECT_EQ(m.reply.body.kind, ReplyBody::Kind::Publish);
  EXPECT_EQ(m.reply.body.id, 1);

  m = decode_server_ok(
      R"(["5","5","room:lobby","phx_reply",{"status":"ok","response":{"recovered":true}}])");
  EXPECT_EQ(m.reply.body.kind, ReplyBody::Kind::Join);
  EXPECT_EQ(m.reply.body.recovered, true);

  m = decode_server_ok(
      R"(["5","8","room:a","phx_reply",{"status":"ok","response":{"messages":[{"id":3,"room":"a","user_id":"u1","user":"A","body":"one","ts":10}],"has_more":true}}])");
  EXPECT_EQ(m.reply.body.kind, ReplyBody::Kind::History);
  ASSERT_EQ(m.reply.body.messages.size(), 1u);
  EXPECT_EQ(m.reply.body.messages[0], (ChatMessage{3, "a", "u1", "A", "one", 10}));
  EXPECT_TRUE(m.reply.body.has_more);
}

TEST(PhoenixCodec, DecodesTracedNewMsgWithoutUserId_8_5) {
  ServerMessage m = decode_server_ok(
      R"([null,null,"room:lobby","new_msg",{"id":1,"room":"lobby","user":"alice","body":"hello from alice","ts":1795835823404}])");
  EXPECT_EQ(m.event, ServerEvent::NewMsg);
  EXPECT_EQ(m.message, (ChatMessage{1, "lobby", "", "alice", "hello from alice", 1795835823404}));
}

TEST(PhoenixCodec, DecodesTracedPresenceFrames_8_3_8_9) {
  ServerMessage m = decode_server_ok(
      R"(["5",null,"room:lobby","presence_state",{"alice":{"metas":[{"online_at":1795835000609,"name":"alice","phx_ref":"F5mwztsish"}]},"bob":{"metas":[{"online_at":1795835000613,"name":"bob","phx_ref":"F6mwztsisl"}]}}])");
  EXPECT_EQ(m.event, ServerEvent::PresenceState);
  EXPECT_EQ(m.join_ref, "5");
  EXPECT_FALSE(m.ref);
  const PresenceEntries expected = {{"alice", {meta("F5mwztsish", 1795835000609, "alice")}},
                                    {"bob", {meta("F6mwztsisl", 1795835000613, "bob")}}};
  EXPECT_EQ(m.state, expected);

  m = decode_server_ok(
      R"([null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"alice":{"metas":[{"online_at":1795835000657,"name":"alice","phx_ref":"F7mwztsitt"}]}}}])");
  EXPECT_EQ(m.event, ServerEvent::PresenceDiff);
  EXPECT_TRUE(m.diff.joins.empty());
  EXPECT_EQ(m.diff.leaves,
            (PresenceEntries{{"alice", {meta("F7mwztsitt", 1795835000657, "alice")}}}));

  // Illustrative metadata update: unknown meta fields are ignored.
  m = decode_server_ok(
      R"([null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"status":"away","phx_ref":"F9","phx_ref_prev":"F5mwztsish"}]}},"leaves":{"alice":{"metas":[{"status":"online","phx_ref":"F5mwztsish"}]}}}])");
  ASSERT_EQ(m.diff.joins.size(), 1u);
  EXPECT_EQ(m.diff.joins[0].second[0].phx_ref(), "F9");
  EXPECT_EQ(m.diff.leaves[0].second[0].phx_ref(), "F5mwztsish");
}

TEST(PhoenixCodec, DecodesCloseErrorAndTyping_8_10) {
  ServerMessage m = decode_server_ok(R"(["5","5","room:lobby","phx_close",{}])");
  EXPECT_EQ(m.event, ServerEvent::Close);
  EXPECT_EQ(m.join_ref, "5");
  m = decode_server_ok(R"(["5","5","room:lobby","phx_error",{"reason":"channel_crash"}])");
  EXPECT_EQ(m.event, ServerEvent::Error);
  EXPECT_EQ(m.reply.body.reason, "channel_crash");
  m = decode_server_ok(R"([null,null,"room:lobby","typing",{"user_id":"u42","user":"Alice"}])");
  EXPECT_EQ(m.event, ServerEvent::Typing);
  EXPECT_EQ(m.user_id, "u42");
  EXPECT_EQ(m.user, "Alice");
  m = decode_server_ok(R"([null,null,"room:lobby","custom",{}])");
  EXPECT_EQ(m.event, ServerEvent::Other);
  EXPECT_EQ(m.event_name, "custom");
}

TEST(PhoenixCodec, RejectsMalformedServerPayloads) {
  for (std::string_view frame : {
           R"([null,"1","t","phx_reply",{"response":{}}])",
           R"([null,"1","t","phx_reply",{"status":"ok"}])",
           R"([null,"1","t","phx_reply",{"status":"ok","response":{"id":"1"}}])",
           R"([null,"1","t","phx_reply",{"status":"ok","response":{"messages":{}}}])",
           R"([null,null,"t","presence_diff",{"joins":{}}])",
           R"([null,null,"t","presence_state",{"u":{"metas":{}}}])",
           R"([null,null,"t","new_msg",{"id":"1"}])",
       }) {
    ServerMessage m;
    EXPECT_EQ(decode_server(frame, m), DecodeError::NotEnvelope) << frame;
  }
}

// ---------------------------------------------------------------- round trips

void expect_same_client_message(const ClientMessage& a, const ClientMessage& b) {
  EXPECT_EQ(a.join_ref, b.join_ref);
  EXPECT_EQ(a.ref, b.ref);
  EXPECT_EQ(a.topic, b.topic);
  EXPECT_EQ(a.event, b.event);
  EXPECT_EQ(a.event_name, b.event_name);
  EXPECT_EQ(a.payload_valid, b.payload_valid);
  EXPECT_EQ(a.last_seen_id, b.last_seen_id);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.before_id, b.before_id);
  EXPECT_EQ(a.limit, b.limit);
}

TEST(PhoenixCodec, ClientMessagesRoundTrip) {
  std::vector<ClientMessage> cases;
  auto add = [&](ClientEvent event, std::string name, std::string topic) -> ClientMessage& {
    ClientMessage& m = cases.emplace_back();
    m.join_ref = "5";
    m.ref = "7";
    m.event = event;
    m.event_name = std::move(name);
    m.topic = std::move(topic);
    return m;
  };
  ClientMessage& hb = add(ClientEvent::Heartbeat, "heartbeat", "phoenix");
  hb.join_ref.reset();
  add(ClientEvent::Join, "phx_join", "room:lobby");
  ClientMessage& join = add(ClientEvent::Join, "phx_join", "room:lobby");
  join.last_seen_id = 123;
  join.device = "t\xc3\xa9l\xc3\xa9phone";
  add(ClientEvent::Join, "phx_join", "room:a").device = "only device";
  add(ClientEvent::Leave, "phx_leave", "room:lobby");
  add(ClientEvent::NewMsg, "new_msg", "room:lobby").body =
      "quote \" backslash \\ nl \n tab \t nul "s + '\0' + " \xe2\x80\xa8 \xf0\x9f\x98\x80";
  add(ClientEvent::NewMsg, "new_msg", "room:lobby").body = "";
  ClientMessage& hist = add(ClientEvent::History, "history", "room:lobby");
  hist.before_id = 124;
  hist.limit = 200;
  add(ClientEvent::History, "history", "room:lobby");
  add(ClientEvent::Typing, "typing", "room:lobby");
  add(ClientEvent::Other, "custom_event", "room:lobby").ref.reset();

  for (const ClientMessage& original : cases) {
    std::string frame;
    encode_client(original, frame);
    SCOPED_TRACE(frame);
    ClientMessage decoded;
    ASSERT_EQ(decode_client(frame, decoded), DecodeError::None);
    expect_same_client_message(decoded, original);
  }
}

TEST(PhoenixCodec, EncodesClientFramesLikeTheJsClient) {
  ClientMessage hb;
  hb.event = ClientEvent::Heartbeat;
  hb.ref = "6";
  std::string out;
  encode_client(hb, out);
  EXPECT_EQ(out, R"([null,"6","phoenix","heartbeat",{}])");

  ClientMessage push;
  push.event = ClientEvent::NewMsg;
  push.join_ref = "5";
  push.ref = "7";
  push.topic = "room:lobby";
  push.body = "hello from alice";
  out.clear();
  encode_client(push, out);
  EXPECT_EQ(out, R"(["5","7","room:lobby","new_msg",{"body":"hello from alice"}])");

  ClientMessage join;
  join.event = ClientEvent::Join;
  join.join_ref = join.ref = "5";
  join.topic = "room:lobby";
  out.clear();
  encode_client(join, out);
  EXPECT_EQ(out, R"(["5","5","room:lobby","phx_join",{}])");
  join.last_seen_id = 9;
  join.device = "phone";
  out.clear();
  encode_client(join, out);
  EXPECT_EQ(out, R"(["5","5","room:lobby","phx_join",{"last_seen_id":9,"device":"phone"}])");

  ClientMessage hist;
  hist.event = ClientEvent::History;
  hist.join_ref = "5";
  hist.ref = "8";
  hist.topic = "room:a";
  out.clear();
  encode_client(hist, out);
  EXPECT_EQ(out, R"(["5","8","room:a","history",{"before_id":null,"limit":50}])");
}

TEST(PhoenixCodec, RepliesRoundTripThroughDecodeServer) {
  ReplyBody publish;
  publish.kind = ReplyBody::Kind::Publish;
  publish.id = 424242;
  ReplyBody join;
  join.kind = ReplyBody::Kind::Join;
  join.recovered = false;
  ReplyBody history;
  history.kind = ReplyBody::Kind::History;
  history.messages = {{1, "a", "u1", "A\"", "x\ny", 5}, {2, "a", "u2", "B", "", 6}};
  history.has_more = true;
  const std::vector<Reply> replies = {
      reply(std::nullopt, "1", "phoenix", ReplyStatus::Ok, {}),
      reply("5", "6", "room:a", ReplyStatus::Error, error_body("rate_limited")),
      reply("5", "6", "room:a", ReplyStatus::Ok, publish),
      reply("5", "5", "room:a", ReplyStatus::Ok, join),
      reply("5", "9", "room:a", ReplyStatus::Ok, history),
  };
  for (const Reply& original : replies) {
    std::string frame;
    encode_reply(original, frame);
    SCOPED_TRACE(frame);
    ServerMessage m = decode_server_ok(frame);
    ASSERT_EQ(m.event, ServerEvent::Reply);
    EXPECT_EQ(m.event_name, "phx_reply");
    EXPECT_EQ(m.reply.join_ref, original.join_ref);
    EXPECT_EQ(m.reply.ref, original.ref);
    EXPECT_EQ(m.reply.topic, original.topic);
    EXPECT_EQ(m.reply.status, original.status);
    EXPECT_EQ(m.reply.body.kind, original.body.kind);
    EXPECT_EQ(m.reply.body.reason, original.body.reason);
    EXPECT_EQ(m.reply.body.recovered, original.body.recovered);
    EXPECT_EQ(m.reply.body.id, original.body.id);
    EXPECT_EQ(m.reply.body.messages, original.body.messages);
    EXPECT_EQ(m.reply.body.has_more, original.body.has_more);
  }
}

TEST(PhoenixCodec, JoinReplyWithoutRecoveryDecodesAsEmpty) {
  ReplyBody join;
  join.kind = ReplyBody::Kind::Join;
  std::string frame;
  encode_reply(reply("5", "5", "room:a", ReplyStatus::Ok, join), frame);
  EXPECT_EQ(decode_server_ok(frame).reply.body.kind, ReplyBody::Kind::Empty);
}

TEST(PhoenixCodec, PushesRoundTripThroughDecodeServer) {
  const ChatMessage chat{77,
                         "lobby",
                         "u\"1",
                         "Al\xc3\xaf"
                         "ce",
                         "body \xe2\x80\xa9 \x01",
                         1764300000000};
  std::string frame;
  encode_new_msg("room:lobby", chat, frame);
  ServerMessage m = decode_server_ok(frame);
  EXPECT_EQ(m.event, ServerEvent::NewMsg);
  EXPECT_FALSE(m.join_ref);
  EXPECT_FALSE(m.ref);
  EXPECT_EQ(m.topic, "room:lobby");
  EXPECT_EQ(m.message, chat);

  const PresenceEntries state = {
      {"u1", {meta("r1", 1, "One", "phone"), meta("r2", 2, "One")}},
      {"\xf0\x9f\x98\x80", {meta("r3", 3, "Smile")}},
  };
  frame.clear();
  encode_presence_state("9", "room:lobby", state, frame);
  m = decode_server_ok(frame);
  EXPECT_EQ(m.event, ServerEvent::PresenceState);
  EXPECT_EQ(m.join_ref, "9");
  EXPECT_EQ(m.state, state);

  const PresenceDiff diff{state, {{"u9", {meta("r9", 9, "Nine")}}}};
  frame.clear();
  encode_presence_diff("room:lobby", diff, frame);
  m = decode_server_ok(frame);
  EXPECT_EQ(m.event, ServerEvent::PresenceDiff);
  EXPECT_EQ(m.diff.joins, diff.joins);
  EXPECT_EQ(m.diff.leaves, diff.leaves);

  frame.clear();
  encode_typing("room:lobby", "u42", "Alice", frame);
  m = decode_server_ok(frame);
  EXPECT_EQ(m.event, ServerEvent::Typing);
  EXPECT_EQ(m.user_id, "u42");
  EXPECT_EQ(m.user, "Alice");

  frame.clear();
  encode_channel_error("3", "room:lobby", "channel_crash", frame);
  m = decode_server_ok(frame);
  EXPECT_EQ(m.event, ServerEvent::Error);
  EXPECT_EQ(m.join_ref, "3");
  EXPECT_EQ(m.ref, "3");
}

TEST(PhoenixCodec, DecodesLargeFrames) {
  const std::string body(100000, 'x');
  ClientMessage msg;
  msg.event = ClientEvent::NewMsg;
  msg.topic = "room:a";
  msg.body = body;
  std::string frame;
  encode_client(msg, frame);
  EXPECT_EQ(decode_ok(frame).body, body);
  // The thread-local parser keeps working for small frames afterwards.
  EXPECT_EQ(decode_ok(R"([null,"1","phoenix","heartbeat",{}])").event, ClientEvent::Heartbeat);
}

}  // namespace
}  // namespace rtchat::proto::phoenix
