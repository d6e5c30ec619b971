// Tests for proto/binary_codec.h: round trips of every rtchat.v1 message, equivalence with the
// Phoenix JSON codec (the same logical message decodes to the same fields from either format),
// and hostile buffers, which must all come back as DecodeError::BadBuffer without a crash.
#include "proto/binary_codec.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proto/phoenix_codec.h"
#include "proto/rtchat_generated.h"

namespace rtchat::proto {
namespace {

namespace fb = ::rtchat::v1;

// ---------------------------------------------------------------- helpers

ClientMessage client(ClientEvent event, std::string topic = "room:lobby") {
  ClientMessage m;
  m.join_ref = "3";
  m.ref = "7";
  m.topic = std::move(topic);
  m.event = event;
  return m;
}

ChatMessage chat(int64_t id, std::string body = "hello") {
  return ChatMessage{id, "lobby", "u42", "Alice", std::move(body), 1764300000000 + id};
}

PresenceEntries entries(int users) {
  PresenceEntries out;
  for (int i = 0; i < users; ++i) {
    std::vector<PresenceMeta> metas{PresenceMeta{"F" + std::to_string(i), 1764300000000 + i,
                                                 "User " + std::to_string(i),
                                                 i % 2 == 0 ? "phone" : ""}};
    out.emplace_back("u" + std::to_string(i), std::move(metas));
  }
  return out;
}

void expect_same(const ClientMessage& a, const ClientMessage& b) {
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

void expect_same(const ServerMessage& a, const ServerMessage& b) {
  EXPECT_EQ(a.event, b.event);
  EXPECT_EQ(a.join_ref, b.join_ref);
  EXPECT_EQ(a.ref, b.ref);
  EXPECT_EQ(a.topic, b.topic);
  EXPECT_EQ(a.event_name, b.event_name);
  EXPECT_EQ(a.reply.join_ref, b.reply.join_ref);
  EXPECT_EQ(a.reply.ref, b.reply.ref);
  EXPECT_EQ(a.reply.topic, b.reply.topic);
  EXPECT_EQ(a.reply.status, b.reply.status);
  EXPECT_EQ(a.reply.body.kind, b.reply.body.kind);
  EXPECT_EQ(a.reply.body.reason, b.reply.body.reason);
  EXPECT_EQ(a.reply.body.recovered, b.reply.body.recovered);
  EXPECT_EQ(a.reply.body.id, b.reply.body.id);
  EXPECT_EQ(a.reply.body.messages, b.reply.body.messages);
  EXPECT_EQ(a.reply.body.has_more, b.reply.body.has_more);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.diff.joins, b.diff.joins);
  EXPECT_EQ(a.diff.leaves, b.diff.leaves);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.user, b.user);
}

ClientMessage binary_round_trip(const ClientMessage& in) {
  std::string bytes;
  binary::encode_client(in, bytes);
  ClientMessage out;
  EXPECT_EQ(binary::decode_client(bytes, out), DecodeError::None);
  return out;
}

ClientMessage json_round_trip(const ClientMessage& in) {
  std::string text;
  phoenix::encode_client(in, text);
  ClientMessage out;
  EXPECT_EQ(phoenix::decode_client(text, out), DecodeError::None) << text;
  return out;
}

// One server frame encoded by the same-named function of both codecs.
struct ServerPair {
  std::string binary;
  std::string json;
};

// Decodes a pair with each codec's decode_server, checks both succeed, returns the binary one.
ServerMessage decode_pair(const ServerPair& p) {
  ServerMessage from_binary;
  ServerMessage from_json;
  EXPECT_EQ(binary::decode_server(p.binary, from_binary), DecodeError::None);
  EXPECT_EQ(phoenix::decode_server(p.json, from_json), DecodeError::None) << p.json;
  expect_same(from_binary, from_json);
  return from_binary;
}

// ---------------------------------------------------------------- client messages

std::vector<ClientMessage> client_cases() {
  std::vector<ClientMessage> cases;
  ClientMessage hb = client(ClientEvent::Heartbeat, "phoenix");
  hb.join_ref.reset();
  hb.event_name = "heartbeat";
  cases.push_back(hb);

  ClientMessage join = client(ClientEvent::Join);
  join.ref = join.join_ref;
  join.event_name = "phx_join";
  cases.push_back(join);
  join.last_seen_id = 123;
  join.device = "phone";
  cases.push_back(join);
  join.last_seen_id = 0;
  join.device = std::string(32, 'x');
  cases.push_back(join);
  join.last_seen_id.reset();
  join.device = "t\xC3\xA9l\xC3\xA9phone \xF0\x9F\x93\xB1";  // "téléphone 📱": 11 characters
  cases.push_back(join);

  ClientMessage leave = client(ClientEvent::Leave);
  leave.event_name = "phx_leave";
  cases.push_back(leave);

  ClientMessage msg = client(ClientEvent::NewMsg);
  msg.event_name = "new_msg";
  msg.body = "hello \"world\"\n\xE2\x80\xA8 \xF0\x9F\x98\x80";
  cases.push_back(msg);
  msg.body = std::string(4000, 'a');
  cases.push_back(msg);
  msg.join_ref.reset();  // Phoenix accepts a push without join_ref
  msg.body = "";
  cases.push_back(msg);

  ClientMessage history = client(ClientEvent::History);
  history.event_name = "history";
  cases.push_back(history);
  history.before_id = 124;
  history.limit = 200;
  cases.push_back(history);
  history.before_id = 0;
  history.limit = 0;
  cases.push_back(history);

  ClientMessage typing = client(ClientEvent::Typing);
  typing.event_name = "typing";
  cases.push_back(typing);

  ClientMessage other = client(ClientEvent::Other);
  other.event_name = "shout";
  cases.push_back(other);
  other.ref.reset();
  other.event_name = "";
  cases.push_back(other);
  return cases;
}

TEST(BinaryCodec, ClientMessagesRoundTrip) {
  for (const ClientMessage& in : client_cases()) {
    SCOPED_TRACE(in.event_name);
    expect_same(binary_round_trip(in), in);
  }
}

TEST(BinaryCodec, ClientMessagesDecodeLikeJson) {
  for (const ClientMessage& in : client_cases()) {
    SCOPED_TRACE(in.event_name);
    expect_same(binary_round_trip(in), json_round_trip(in));
  }
}

TEST(BinaryCodec, InvalidJoinPayloadsMatchJson) {
  ClientMessage join = client(ClientEvent::Join);
  join.device = std::string(33, 'x');
  ClientMessage out = binary_round_trip(join);
  EXPECT_FALSE(out.payload_valid);
  EXPECT_FALSE(out.device.has_value());
  expect_same(out, json_round_trip(join));

  join.device = "ok";
  join.last_seen_id = -1;
  out = binary_round_trip(join);
  EXPECT_FALSE(out.payload_valid);
  expect_same(out, json_round_trip(join));

  // 32 four-byte characters: 128 bytes but 32 characters, so still valid.
  join.last_seen_id.reset();
  join.device.reset();
  for (int i = 0; i < 32; ++i) join.device = join.device.value_or("") + "\xF0\x9F\x98\x80";
  out = binary_round_trip(join);
  EXPECT_TRUE(out.payload_valid);
  expect_same(out, json_round_trip(join));
}

TEST(BinaryCodec, InvalidHistoryPayloadsMatchJson) {
  ClientMessage history = client(ClientEvent::History);
  history.limit = -1;
  ClientMessage out = binary_round_trip(history);
  EXPECT_FALSE(out.payload_valid);
  expect_same(out, json_round_trip(history));

  history.limit = 10;
  history.before_id = -5;
  out = binary_round_trip(history);
  EXPECT_FALSE(out.payload_valid);
  expect_same(out, json_round_trip(history));
}

// Builds a client Frame by hand so tests can leave out fields the encoder always writes.
template <typename MakeBody>
std::string build_frame(fb::Body type, MakeBody make_body, bool with_topic = true) {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<void> body = make_body(b);
  auto topic =
      with_topic ? b.CreateString("room:lobby") : flatbuffers::Offset<flatbuffers::String>();
  fb::FinishFrameBuffer(
      b, fb::CreateFrame(b, b.CreateString("1"), b.CreateString("2"), topic, type, body));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

// A ref is echoed and kept per channel: past kMaxRefBytes the frame is refused, in both formats.
TEST(BinaryCodec, RefsLongerThanTheLimitAreRefusedLikeJson) {
  for (bool join_ref : {true, false}) {
    for (size_t n : {kMaxRefBytes, kMaxRefBytes + 1}) {
      ClientMessage in = client(ClientEvent::Heartbeat, "phoenix");
      (join_ref ? in.join_ref : in.ref) = std::string(n, '9');
      const DecodeError want = n > kMaxRefBytes ? DecodeError::BadBuffer : DecodeError::None;
      std::string bytes;
      binary::encode_client(in, bytes);
      ClientMessage out;
      EXPECT_EQ(binary::decode_client(bytes, out), want) << n;
      std::string text;
      phoenix::encode_client(in, text);
      EXPECT_EQ(phoenix::decode_client(text, out),
                n > kMaxRefBytes ? DecodeError::NotEnvelope : DecodeError::None)
          << text;
    }
  }
}

TEST(BinaryCodec, NewMsgWithoutBodyIsInvalidPayload) {
  std::string bytes =
      build_frame(fb::Body::NewMsgPush, [](auto& b) { return fb::CreateNewMsgPush(b).Union(); });
  ClientMessage out;
  ASSERT_EQ(binary::decode_client(bytes, out), DecodeError::None);
  EXPECT_EQ(out.event, ClientEvent::NewMsg);
  EXPECT_FALSE(out.payload_valid);
}

TEST(BinaryCodec, HistoryWithoutLimitDefaultsToFifty) {
  std::string bytes = build_frame(fb::Body::HistoryRequest, [](auto& b) {
    fb::HistoryRequestBuilder hb(b);
    return hb.Finish().Union();
  });
  ClientMessage out;
  ASSERT_EQ(binary::decode_client(bytes, out), DecodeError::None);
  EXPECT_EQ(out.event, ClientEvent::History);
  EXPECT_TRUE(out.payload_valid);
  EXPECT_EQ(out.limit, 50);
  EXPECT_FALSE(out.before_id.has_value());
}

TEST(BinaryCodec, GenericPushNamingAKnownEventStaysOther) {
  std::string bytes = build_frame(fb::Body::GenericPush, [](auto& b) {
    return fb::CreateGenericPush(b, b.CreateString("new_msg"), b.CreateString("{\"body\":\"x\"}"))
        .Union();
  });
  ClientMessage out;
  ASSERT_EQ(binary::decode_client(bytes, out), DecodeError::None);
  EXPECT_EQ(out.event, ClientEvent::Other);
  EXPECT_EQ(out.event_name, "new_msg");
}

TEST(BinaryCodec, ServerBodyFromClientIsOther) {
  std::string bytes;
  binary::encode_typing("room:lobby", "u1", "A", bytes);
  ClientMessage out;
  ASSERT_EQ(binary::decode_client(bytes, out), DecodeError::None);
  EXPECT_EQ(out.event, ClientEvent::Other);
  EXPECT_EQ(out.event_name, "typing");  // JSON: a "typing" event would be Typing, but this
                                        // is the server's broadcast shape, not the push.
}

// ---------------------------------------------------------------- server messages

TEST(BinaryCodec, RepliesRoundTripAndMatchJson) {
  std::vector<Reply> replies;
  Reply r;
  r.join_ref = "3";
  r.ref = "3";
  r.topic = "room:lobby";
  replies.push_back(r);  // ok {}
  r.body.kind = ReplyBody::Kind::Join;
  r.body.recovered = true;
  replies.push_back(r);
  r.body.recovered = false;
  replies.push_back(r);
  r.body = ReplyBody{};
  r.status = ReplyStatus::Error;
  r.join_ref.reset();
  r.body.kind = ReplyBody::Kind::Error;
  r.body.reason = "unmatched topic";
  replies.push_back(r);
  r.status = ReplyStatus::Ok;
  r.join_ref = "3";
  r.ref = "9";
  r.body = ReplyBody{};
  r.body.kind = ReplyBody::Kind::Publish;
  r.body.id = 124;
  replies.push_back(r);
  r.body = ReplyBody{};
  r.body.kind = ReplyBody::Kind::History;
  replies.push_back(r);  // empty page
  r.body.messages = {chat(1), chat(2, "second \xF0\x9F\x98\x80"), chat(3, "")};
  r.body.has_more = true;
  replies.push_back(r);
  Reply heartbeat;
  heartbeat.ref = "12";
  heartbeat.topic = "phoenix";
  replies.push_back(heartbeat);

  for (const Reply& reply : replies) {
    SCOPED_TRACE(static_cast<int>(reply.body.kind));
    std::string bytes;
    binary::encode_reply(reply, bytes);
    std::string text;
    phoenix::encode_reply(reply, text);
    ServerPair p{bytes, text};
    ServerMessage got = decode_pair(p);
    EXPECT_EQ(got.event, ServerEvent::Reply);
    EXPECT_EQ(got.join_ref, reply.join_ref);
    EXPECT_EQ(got.ref, reply.ref);
    EXPECT_EQ(got.topic, reply.topic);
    EXPECT_EQ(got.event_name, "phx_reply");
    EXPECT_EQ(got.reply.status, reply.status);
    EXPECT_EQ(got.reply.body.kind, reply.body.kind);
    EXPECT_EQ(got.reply.body.reason, reply.body.reason);
    EXPECT_EQ(got.reply.body.recovered, reply.body.recovered);
    EXPECT_EQ(got.reply.body.id, reply.body.id);
    EXPECT_EQ(got.reply.body.messages, reply.body.messages);
    EXPECT_EQ(got.reply.body.has_more, reply.body.has_more);
  }
}

TEST(BinaryCodec, JoinReplyWithoutRecoveredKeepsItsKind) {
  // JSON cannot tell a plain join reply {} from an empty reply; binary keeps the kind.
  Reply r;
  r.topic = "room:lobby";
  r.body.kind = ReplyBody::Kind::Join;
  std::string bytes;
  binary::encode_reply(r, bytes);
  ServerMessage got;
  ASSERT_EQ(binary::decode_server(bytes, got), DecodeError::None);
  EXPECT_EQ(got.reply.body.kind, ReplyBody::Kind::Join);
  EXPECT_FALSE(got.reply.body.recovered.has_value());
}

TEST(BinaryCodec, NewMsgRoundTripsAndMatchesJson) {
  ServerPair p;
  const ChatMessage msg = chat(124, "hi \"there\" \xF0\x9F\x91\x8B\n");
  binary::encode_new_msg("room:lobby", msg, p.binary);
  phoenix::encode_new_msg("room:lobby", msg, p.json);
  ServerMessage got = decode_pair(p);
  EXPECT_EQ(got.event, ServerEvent::NewMsg);
  EXPECT_EQ(got.event_name, "new_msg");
  EXPECT_FALSE(got.join_ref.has_value());
  EXPECT_FALSE(got.ref.has_value());
  EXPECT_EQ(got.message, msg);
}

TEST(BinaryCodec, PresenceStateRoundTripsAndMatchesJson) {
  for (int users : {0, 1, 100}) {
    ServerPair p;
    PresenceEntries state = entries(users);
    if (users == 1) state[0].second.push_back(PresenceMeta{"G2", 5, "User 0", "laptop"});
    binary::encode_presence_state(std::string("3"), "room:lobby", state, p.binary);
    phoenix::encode_presence_state(std::string("3"), "room:lobby", state, p.json);
    ServerMessage got = decode_pair(p);
    EXPECT_EQ(got.event, ServerEvent::PresenceState);
    EXPECT_EQ(got.join_ref, "3");
    EXPECT_FALSE(got.ref.has_value());
    EXPECT_EQ(got.state, state);
  }
}

TEST(BinaryCodec, PresenceDiffRoundTripsAndMatchesJson) {
  for (int users : {0, 1, 100}) {
    ServerPair p;
    PresenceDiff diff{entries(users), entries(users / 2)};
    binary::encode_presence_diff("room:lobby", diff, p.binary);
    phoenix::encode_presence_diff("room:lobby", diff, p.json);
    ServerMessage got = decode_pair(p);
    EXPECT_EQ(got.event, ServerEvent::PresenceDiff);
    EXPECT_EQ(got.diff.joins, diff.joins);
    EXPECT_EQ(got.diff.leaves, diff.leaves);
  }
}

TEST(BinaryCodec, ChannelCloseErrorAndTypingMatchJson) {
  ServerPair close;
  binary::encode_close(std::string("5"), "room:a", close.binary);
  phoenix::encode_close(std::string("5"), "room:a", close.json);
  ServerMessage got = decode_pair(close);
  EXPECT_EQ(got.event, ServerEvent::Close);
  EXPECT_EQ(got.join_ref, "5");
  EXPECT_EQ(got.ref, "5");

  ServerPair error;
  binary::encode_channel_error(std::string("5"), "room:a", "channel_crash", error.binary);
  phoenix::encode_channel_error(std::string("5"), "room:a", "channel_crash", error.json);
  got = decode_pair(error);
  EXPECT_EQ(got.event, ServerEvent::Error);
  EXPECT_EQ(got.reply.body.kind, ReplyBody::Kind::Error);
  EXPECT_EQ(got.reply.body.reason, "channel_crash");

  ServerPair typing;
  binary::encode_typing("room:a", "u42", "Alice", typing.binary);
  phoenix::encode_typing("room:a", "u42", "Alice", typing.json);
  got = decode_pair(typing);
  EXPECT_EQ(got.event, ServerEvent::Typing);
  EXPECT_EQ(got.user_id, "u42");
  EXPECT_EQ(got.user, "Alice");
}

TEST(BinaryCodec, EncodersAppendToOut) {
  std::string out = "prefix";
  binary::encode_close(std::nullopt, "room:a", out);
  ASSERT_GT(out.size(), 6u);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  ServerMessage got;
  EXPECT_EQ(binary::decode_server(std::string_view(out).substr(6), got), DecodeError::None);
  EXPECT_EQ(got.event, ServerEvent::Close);
}

TEST(BinaryCodec, DecodesUnalignedBuffers) {
  std::string bytes;
  binary::encode_new_msg("room:lobby", chat(7), bytes);
  for (size_t shift = 1; shift < 8; ++shift) {
    std::string shifted(shift, '\0');
    shifted += bytes;
    ServerMessage got;
    ASSERT_EQ(binary::decode_server(std::string_view(shifted).substr(shift), got),
              DecodeError::None);
    EXPECT_EQ(got.message, chat(7));
  }
}

// ---------------------------------------------------------------- hostile buffers

void expect_bad_client(std::string_view bytes, const char* what) {
  ClientMessage c;
  ServerMessage s;
  EXPECT_EQ(binary::decode_client(bytes, c), DecodeError::BadBuffer) << what;
  EXPECT_EQ(binary::decode_server(bytes, s), DecodeError::BadBuffer) << what;
}

std::string valid_new_msg() {
  ClientMessage m = client(ClientEvent::NewMsg);
  m.body = "hello";
  std::string bytes;
  binary::encode_client(m, bytes);
  return bytes;
}

TEST(BinaryCodec, RejectsEmptyAndTinyBuffers) {
  expect_bad_client("", "empty");
  expect_bad_client(std::string(4, '\0'), "four zero bytes");
  expect_bad_client(std::string(8, '\0'), "eight zero bytes");
}

TEST(BinaryCodec, RejectsEveryTruncation) {
  const std::string bytes = valid_new_msg();
  ClientMessage full;
  ASSERT_EQ(binary::decode_client(bytes, full), DecodeError::None);
  for (size_t n = 0; n < bytes.size(); ++n) {
    ClientMessage c;
    // Cutting only the trailing alignment padding leaves a complete buffer; anything else fails.
    if (binary::decode_client(std::string_view(bytes).substr(0, n), c) == DecodeError::None) {
      EXPECT_GE(n, bytes.size() - 3) << "truncated to " << n;
      expect_same(c, full);
    }
  }
}

TEST(BinaryCodec, RejectsGarbage) {
  expect_bad_client("[null,\"1\",\"phoenix\",\"heartbeat\",{}]", "JSON text");
  uint32_t seed = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string junk(static_cast<size_t>(8 + round % 200), '\0');
    for (char& ch : junk) {
      seed = seed * 1103515245u + 12345u;
      ch = static_cast<char>(seed >> 24);
    }
    if (round % 2 == 0) std::memcpy(&junk[4], "RTC1", 4);  // get past the identifier check
    ClientMessage c;
    ServerMessage s;
    // Random bytes are almost surely invalid; what matters is no crash and no partial result.
    if (binary::decode_client(junk, c) != DecodeError::None) EXPECT_TRUE(c.topic.empty());
    (void)binary::decode_server(junk, s);
  }
}

TEST(BinaryCodec, RejectsWrongIdentifier) {
  std::string bytes = valid_new_msg();
  std::memcpy(&bytes[4], "RTC2", 4);
  expect_bad_client(bytes, "wrong identifier");

  // A buffer with another root type and no identifier at all.
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateChatMessage(b, 1, b.CreateString("lobby")));
  expect_bad_client(
      std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()),
      "ChatMessage root without identifier");
}

void put_u32(std::string& bytes, size_t at, uint32_t value) { std::memcpy(&bytes[at], &value, 4); }

TEST(BinaryCodec, RejectsRootOffsetOutsideBuffer) {
  std::string bytes = valid_new_msg();
  put_u32(bytes, 0, static_cast<uint32_t>(bytes.size()) + 16);
  expect_bad_client(bytes, "root offset past the end");
  put_u32(bytes, 0, 0xFFFFFFF0u);
  expect_bad_client(bytes, "root offset huge");
}

TEST(BinaryCodec, RejectsVtableOffsetOutsideBuffer) {
  std::string bytes = valid_new_msg();
  uint32_t root = 0;
  std::memcpy(&root, bytes.data(), 4);
  put_u32(bytes, root, 0x7FFFFFF0u);  // the table's soffset to its vtable
  expect_bad_client(bytes, "vtable outside");
}

// Offset of a string's or vector's length field inside the buffer.
size_t length_field_offset(const std::string& bytes, const void* field) {
  return static_cast<size_t>(reinterpret_cast<const char*>(field) - bytes.data());
}

TEST(BinaryCodec, RejectsStringLengthLargerThanBuffer) {
  std::string bytes = valid_new_msg();
  const fb::Frame* frame = fb::GetFrame(bytes.data());
  const size_t at = length_field_offset(bytes, frame->body_as_NewMsgPush()->body());
  put_u32(bytes, at, static_cast<uint32_t>(bytes.size()) * 4);
  expect_bad_client(bytes, "string length too large");
}

TEST(BinaryCodec, RejectsVectorLengthLargerThanBuffer) {
  Reply r;
  r.topic = "room:lobby";
  r.body.kind = ReplyBody::Kind::History;
  r.body.messages = {chat(1), chat(2)};
  std::string bytes;
  binary::encode_reply(r, bytes);
  const fb::Frame* frame = fb::GetFrame(bytes.data());
  const size_t at = length_field_offset(bytes, frame->body_as_Reply()->messages());
  for (uint32_t len : {3u, 1000u, 0x3FFFFFFFu, 0xFFFFFFFFu}) {
    put_u32(bytes, at, len);
    ServerMessage s;
    EXPECT_EQ(binary::decode_server(bytes, s), DecodeError::BadBuffer) << len;
  }
}

TEST(BinaryCodec, RejectsMissingTopicAndMissingBody) {
  expect_bad_client(build_frame(
                        fb::Body::Typing, [](auto& b) { return fb::CreateTyping(b).Union(); },
                        /*with_topic=*/false),
                    "no topic");
  expect_bad_client(build_frame(fb::Body::NONE, [](auto&) { return flatbuffers::Offset<void>(); }),
                    "no body");
}

TEST(BinaryCodec, RejectsUnionTypeWithoutTable) {
  // Found by fuzz_binary_decode: the Verifier accepts a type tag whose table offset is absent.
  for (fb::Body type : {fb::Body::Reply, fb::Body::Join, fb::Body::ChatMessage, fb::Body::Typing}) {
    expect_bad_client(build_frame(type, [](auto&) { return flatbuffers::Offset<void>(); }),
                      "type without table");
  }
}

TEST(BinaryCodec, RejectsUnknownUnionMember) {
  std::string bytes =
      build_frame(static_cast<fb::Body>(200), [](auto& b) { return fb::CreateTyping(b).Union(); });
  expect_bad_client(bytes, "union type from the future");
}

TEST(BinaryCodec, RejectsInvalidUtf8) {
  ClientMessage m = client(ClientEvent::NewMsg);
  m.body = "bad \xC3\x28 utf8";
  std::string bytes;
  binary::encode_client(m, bytes);
  expect_bad_client(bytes, "invalid UTF-8 body");

  m = client(ClientEvent::Typing, "room:\xFF");
  bytes.clear();
  binary::encode_client(m, bytes);
  expect_bad_client(bytes, "invalid UTF-8 topic");

  bytes.clear();
  binary::encode_typing("room:a", "u1", "\xED\xA0\x80", bytes);  // a lone surrogate
  ServerMessage s;
  EXPECT_EQ(binary::decode_server(bytes, s), DecodeError::BadBuffer);
}

TEST(BinaryCodec, RejectsDeepOrHugeClientFrames) {
  // A client frame is one body table: a 100-user presence state exceeds the table budget.
  std::string bytes;
  binary::encode_presence_state(std::nullopt, "room:a", entries(100), bytes);
  ClientMessage c;
  EXPECT_EQ(binary::decode_client(bytes, c), DecodeError::BadBuffer);
  ServerMessage s;
  EXPECT_EQ(binary::decode_server(bytes, s), DecodeError::None);
}

}  // namespace
}  // namespace rtchat::proto
