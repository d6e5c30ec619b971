// Tests for loadtest/client/ws_frames.h with crafted bytes (no server): the upgrade handshake,
// masked client frames and the server-frame reader.
#include "loadtest/client/ws_frames.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::client {
namespace {

// An unmasked server frame, as the server writes it.
std::string server_frame(uint8_t opcode, std::string_view payload, bool fin = true,
                         uint8_t extra_bits = 0) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | extra_bits | opcode));
  const size_t len = payload.size();
  if (len <= 125) {
    out.push_back(static_cast<char>(len));
  } else if (len <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((static_cast<uint64_t>(len) >> shift) & 0xFF));
    }
  }
  out.append(payload);
  return out;
}

std::string response(std::string_view key, std::string_view extra = "") {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         websocket_accept_for(key) + "\r\n" + std::string(extra) + "\r\n";
}

// ---------------------------------------------------------------- handshake

TEST(WsFrames, AcceptMatchesRfc6455Example) {
  EXPECT_EQ(websocket_accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFrames, KeysAreRandomSixteenBytes) {
  const std::string a = make_websocket_key();
  const std::string b = make_websocket_key();
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a.substr(22), "==");
  EXPECT_NE(a, b);
}

TEST(WsFrames, BinaryUpgradeAsksForRtchatSubprotocol) {
  const std::string req =
      build_upgrade_request("127.0.0.1:4000", "/socket/websocket?token=T", "KEY", Format::Binary);
  EXPECT_EQ(req.rfind("GET /socket/websocket?token=T HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(req.find("Host: 127.0.0.1:4000\r\n"), std::string::npos);
  EXPECT_NE(req.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(req.find("Connection: Upgrade\r\n"), std::string::npos);
  EXPECT_NE(req.find("Sec-WebSocket-Key: KEY\r\n"), std::string::npos);
  EXPECT_NE(req.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_NE(req.find("Sec-WebSocket-Protocol: rtchat.v1\r\n"), std::string::npos);
  EXPECT_EQ(req.substr(req.size() - 4), "\r\n\r\n");
}

TEST(WsFrames, JsonUpgradeCarriesTokenLikePhoenixJs) {
  const std::string plain = build_upgrade_request("h:1", "/socket/websocket", "K", Format::Json);
  EXPECT_EQ(plain.find("Sec-WebSocket-Protocol"), std::string::npos);
  // btoa("abcd") = "YWJjZA==" and phoenix.js strips the padding.
  const std::string req =
      build_upgrade_request("h:1", "/socket/websocket", "K", Format::Json, "abcd");
  EXPECT_NE(req.find("Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJjZA\r\n"),
            std::string::npos);
}

TEST(WsFrames, ParsesCompleteUpgradeResponse) {
  const std::string key = make_websocket_key();
  const std::string head = response(key, "Sec-WebSocket-Protocol: rtchat.v1\r\n");
  int status = 0;
  EXPECT_EQ(parse_upgrade_response(head, key, status), static_cast<int>(head.size()));
  EXPECT_EQ(status, 101);
  // Bytes after the head (a first frame) are not part of it.
  EXPECT_EQ(parse_upgrade_response(head + "\x81\x00", key, status), static_cast<int>(head.size()));
}

TEST(WsFrames, UpgradeResponseHeadersAreCaseInsensitive) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, "
      "upgrade\r\n"
      "sec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  int status = 0;
  EXPECT_EQ(parse_upgrade_response(head, key, status), static_cast<int>(head.size()));
}

TEST(WsFrames, PartialUpgradeResponseNeedsMore) {
  const std::string key = make_websocket_key();
  const std::string head = response(key);
  int status = -5;
  for (size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(parse_upgrade_response(std::string_view(head).substr(0, n), key, status), 0) << n;
  }
}

TEST(WsFrames, RefusedUpgradeReportsStatus) {
  int status = 0;
  EXPECT_EQ(
      parse_upgrade_response("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", "k", status),
      -1);
  EXPECT_EQ(status, 401);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 503 Busy\r\n\r\n", "k", status), -1);
  EXPECT_EQ(status, 503);
}

TEST(WsFrames, RejectsMalformedOrUnverifiedUpgrade) {
  const std::string key = make_websocket_key();
  int status = 0;
  EXPECT_EQ(parse_upgrade_response(response("other-key"), key, status), -1);
  EXPECT_EQ(status, 101);
  EXPECT_EQ(
      parse_upgrade_response("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                                 websocket_accept_for(key) + "\r\n\r\n",
                             key, status),
      -1);  // no Upgrade header
  EXPECT_EQ(parse_upgrade_response("garbage\r\n\r\n", key, status), -1);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 1x1 Nope\r\n\r\n", key, status), -1);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 101 OK\r\nno colon here\r\n\r\n", key, status), -1);
  // A head that never ends is refused instead of buffered forever.
  EXPECT_EQ(parse_upgrade_response(std::string(20000, 'a'), key, status), -1);
}

// ---------------------------------------------------------------- client frames

std::string unmask(std::string_view frame, size_t header, size_t len) {
  std::string out(frame.substr(header + 4, len));
  for (size_t i = 0; i < len; ++i) out[i] ^= frame[header + (i & 3)];
  return out;
}

TEST(WsFrames, ClientFramesAreMaskedWithEveryLengthForm) {
  for (size_t len : {0u, 5u, 125u, 126u, 65535u, 65536u, 70000u}) {
    std::string payload(len, '\0');
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(i * 7);
    std::string frame;
    append_client_frame(frame, kOpBinary, payload, 0xA1B2C3D4);
    EXPECT_EQ(static_cast<uint8_t>(frame[0]), 0x82);
    EXPECT_EQ(static_cast<uint8_t>(frame[1]) & 0x80, 0x80) << "mask bit";
    size_t header = 2;
    if (len > 0xFFFF) {
      EXPECT_EQ(static_cast<uint8_t>(frame[1]) & 0x7F, 127);
      header = 10;
    } else if (len > 125) {
      EXPECT_EQ(static_cast<uint8_t>(frame[1]) & 0x7F, 126);
      EXPECT_EQ((static_cast<uint8_t>(frame[2]) << 8) | static_cast<uint8_t>(frame[3]),
                static_cast<int>(len));
      header = 4;
    } else {
      EXPECT_EQ(static_cast<uint8_t>(frame[1]) & 0x7F, static_cast<int>(len));
    }
    ASSERT_EQ(frame.size(), header + 4 + len);
    EXPECT_EQ(frame.substr(header, 4), "\xA1\xB2\xC3\xD4");
    EXPECT_EQ(unmask(frame, header, len), payload) << len;
  }
}

// ---------------------------------------------------------------- FrameReader

TEST(FrameReader, ReadsFramesOfEveryLengthForm) {
  FrameReader reader;
  std::string bytes;
  for (size_t len : {0u, 125u, 126u, 65535u, 65536u}) {
    bytes += server_frame(kOpText, std::string(len, 'x'));
  }
  reader.feed(bytes);
  Frame f;
  for (size_t len : {0u, 125u, 126u, 65535u, 65536u}) {
    ASSERT_EQ(reader.next(f), FrameReader::Status::Ready);
    EXPECT_EQ(f.opcode, kOpText);
    EXPECT_EQ(f.payload.size(), len);
  }
  EXPECT_EQ(reader.next(f), FrameReader::Status::NeedMore);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

// Skimming (the load generator's presence frames): a large frame whose head passes the test is
// returned with its head only, and the rest is dropped as it arrives, in any chunking; frames
// that fail the test, small ones and those after are read whole.
bool starts_with_skip(uint8_t opcode, std::string_view head) {
  return opcode == kOpText && head.starts_with("SKIP");
}

TEST(FrameReader, SkimsLargeFramesByTheirHeadAndDropsTheRest) {
  const std::string big_skip = "SKIP" + std::string(70000, 's');
  const std::string big_keep = "KEEP" + std::string(5000, 'k');
  const std::string small_skip = "SKIP small";
  const std::string bytes = server_frame(kOpText, big_skip) + server_frame(kOpText, big_keep) +
                            server_frame(kOpText, small_skip) + server_frame(kOpText, big_skip) +
                            server_frame(kOpBinary, "SKIP" + std::string(5000, 'b')) +
                            server_frame(kOpPing, "p");
  for (size_t chunk : {size_t{1}, size_t{100}, size_t{4096}, bytes.size()}) {
    FrameReader reader;
    reader.set_skim(&starts_with_skip);
    std::vector<Frame> got;
    Frame f;
    size_t most_buffered = 0;
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      reader.feed(std::string_view(bytes).substr(at, chunk));
      most_buffered = std::max(most_buffered, reader.buffered_bytes());
      while (reader.next(f) == FrameReader::Status::Ready) got.push_back(f);
    }
    ASSERT_EQ(got.size(), 6u) << chunk;
    EXPECT_TRUE(got[0].skimmed);
    EXPECT_EQ(got[0].payload, big_skip.substr(0, FrameReader::kSkimHeadBytes));
    EXPECT_FALSE(got[1].skimmed);
    EXPECT_EQ(got[1].payload, big_keep);
    EXPECT_FALSE(got[2].skimmed);  // under kSkimMinBytes: read whole
    EXPECT_EQ(got[2].payload, small_skip);
    EXPECT_TRUE(got[3].skimmed);
    EXPECT_FALSE(got[4].skimmed);  // binary: the test says no
    EXPECT_EQ(got[4].payload.size(), 5004u);
    EXPECT_EQ(got[5].opcode, kOpPing);
    EXPECT_EQ(reader.buffered_bytes(), 0u);
    // The kept frames (5 KB) are buffered whole; a skimmed one (70 KB) never is.
    if (chunk <= 4096) EXPECT_LT(most_buffered, 6000u + chunk) << chunk;
  }
}

TEST(FrameReader, AssemblesFramesFedOneByteAtATime) {
  const std::string bytes = server_frame(kOpBinary, std::string(300, 'b')) +
                            server_frame(kOpPing, "hi") + server_frame(kOpText, "t");
  FrameReader reader;
  std::vector<Frame> got;
  Frame f;
  for (char c : bytes) {
    reader.feed(std::string_view(&c, 1));
    while (reader.next(f) == FrameReader::Status::Ready) got.push_back(f);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].opcode, kOpBinary);
  EXPECT_EQ(got[0].payload, std::string(300, 'b'));
  EXPECT_EQ(got[1].opcode, kOpPing);
  EXPECT_EQ(got[1].payload, "hi");
  EXPECT_EQ(got[2].payload, "t");
}

TEST(FrameReader, ReassemblesFragmentsAroundControlFrames) {
  FrameReader reader;
  reader.feed(server_frame(kOpText, "hel", /*fin=*/false) + server_frame(kOpPing, "p") +
              server_frame(kOpContinuation, "lo ", false) +
              server_frame(kOpContinuation, "world", true));
  Frame f;
  ASSERT_EQ(reader.next(f), FrameReader::Status::Ready);
  EXPECT_EQ(f.opcode, kOpPing);
  ASSERT_EQ(reader.next(f), FrameReader::Status::Ready);
  EXPECT_EQ(f.opcode, kOpText);
  EXPECT_EQ(f.payload, "hello world");
  EXPECT_EQ(reader.next(f), FrameReader::Status::NeedMore);
}

struct BadFrame {
  const char* name;
  std::string bytes;
};

TEST(FrameReader, RejectsProtocolViolations) {
  std::string masked = server_frame(kOpText, "");
  masked[1] = static_cast<char>(0x80 | 1);
  masked += "MASKx";
  std::string huge_len = "\x82\x7F";
  huge_len += std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8);
  const BadFrame cases[] = {
      {"masked", masked},
      {"rsv1", server_frame(kOpText, "x", true, 0x40)},
      {"rsv3", server_frame(kOpText, "x", true, 0x10)},
      {"continuation first", server_frame(kOpContinuation, "x")},
      {"text inside fragment", server_frame(kOpText, "a", false) + server_frame(kOpText, "b")},
      {"fragmented ping", server_frame(kOpPing, "x", false)},
      {"long close", server_frame(kOpClose, std::string(126, 'c'))},
      {"opcode 3", server_frame(0x3, "x")},
      {"opcode 0xB", server_frame(0xB, "x")},
      {"64-bit top bit", huge_len},
  };
  for (const BadFrame& c : cases) {
    FrameReader reader;
    reader.feed(c.bytes);
    Frame f;
    EXPECT_EQ(reader.next(f), FrameReader::Status::Error) << c.name;
    EXPECT_FALSE(reader.error().empty()) << c.name;
    // Sticky: more valid bytes do not revive a broken stream.
    reader.feed(server_frame(kOpText, "ok"));
    EXPECT_EQ(reader.next(f), FrameReader::Status::Error) << c.name;
  }
}

TEST(FrameReader, RefusesOversizeMessageFromItsHeader) {
  FrameReader reader(1000);
  // Only the header of a 2000-byte frame: refused before any payload arrives.
  reader.feed(server_frame(kOpBinary, std::string(2000, 'x')).substr(0, 4));
  Frame f;
  EXPECT_EQ(reader.next(f), FrameReader::Status::Error);
  EXPECT_EQ(reader.error(), "message too big");

  // Fragments that are each small but add up past the limit.
  FrameReader fragments(1000);
  fragments.feed(server_frame(kOpText, std::string(600, 'a'), false) +
                 server_frame(kOpContinuation, std::string(600, 'a'), true));
  EXPECT_EQ(fragments.next(f), FrameReader::Status::Error);
}

// ---------------------------------------------------------------- codecs

TEST(WsFrames, EncodesAndDecodesInBothFormats) {
  for (Format format : {Format::Json, Format::Binary}) {
    proto::ClientMessage msg;
    msg.join_ref = "1";
    msg.ref = "2";
    msg.topic = "room:lobby";
    msg.event = proto::ClientEvent::NewMsg;
    msg.body = "hello";
    std::string payload;
    encode_message(format, msg, payload);
    proto::ClientMessage back;
    const proto::DecodeError err = format == Format::Binary
                                       ? proto::binary::decode_client(payload, back)
                                       : proto::phoenix::decode_client(payload, back);
    ASSERT_EQ(err, proto::DecodeError::None);
    EXPECT_EQ(back.body, "hello");
    EXPECT_EQ(opcode_for(format), format == Format::Binary ? kOpBinary : kOpText);

    const proto::ChatMessage chat{5, "lobby", "u1", "Al", "hey", 99};
    std::string server;
    if (format == Format::Binary) {
      proto::binary::encode_new_msg("room:lobby", chat, server);
    } else {
      proto::phoenix::encode_new_msg("room:lobby", chat, server);
    }
    proto::ServerMessage out;
    ASSERT_TRUE(decode_message(format, server, out));
    EXPECT_EQ(out.event, proto::ServerEvent::NewMsg);
    EXPECT_EQ(out.message, chat);
    EXPECT_FALSE(decode_message(format, "\x01\x02garbage", out));
  }
}

}  // namespace
}  // namespace rtchat::client
