// FrameBoundary (server/net/ws_frame.h): the inbound frame-header checks of RFC 6455 section 5,
// table driven, each case fed whole and byte by byte.
#include "server/net/ws_frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/net/close_reasons.h"

namespace rtchat::server {
namespace {

constexpr uint64_t kMax = 65536;  // the --max-message-bytes default

enum class LenForm { Minimal, Ext16, Ext64 };

// A client frame header: byte 0 as given, the mask bit set unless `masked` is false, the length
// in the asked form, then a 4-byte mask key. `len64` is written verbatim in the 64-bit form.
std::string header(uint8_t b0, uint64_t len, LenForm form = LenForm::Minimal, bool masked = true) {
  if (form == LenForm::Minimal) {
    form = len < 126 ? LenForm::Minimal : len <= 0xFFFF ? LenForm::Ext16 : LenForm::Ext64;
  }
  const uint8_t mask_bit = masked ? 0x80 : 0;
  std::string h(1, static_cast<char>(b0));
  if (form == LenForm::Minimal) {
    h.push_back(static_cast<char>(mask_bit | len));
  } else if (form == LenForm::Ext16) {
    h.push_back(static_cast<char>(mask_bit | 126));
    h.push_back(static_cast<char>(len >> 8));
    h.push_back(static_cast<char>(len));
  } else {
    h.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>(len >> (56 - 8 * i)));
  }
  if (masked) h.append("\x01\x02\x03\x04", 4);
  return h;
}

// A whole frame: header plus `len` payload bytes (their content does not matter here).
std::string frame(uint8_t b0, uint64_t len) { return header(b0, len) + std::string(len, 'x'); }

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kText = 0x1, kBinary = 0x2, kCont = 0x0, kClose = 0x8, kPing = 0x9, kPong = 0xA;

struct Case {
  const char* name;
  std::string bytes;
  uint16_t code;  // 0: accepted
  std::string_view reason;
};

std::vector<Case> cases() {
  using namespace close_reason;
  const std::string big_fragment = frame(kText, 40000);
  return {
      {"small text frame", frame(kFin | kText, 5), 0, {}},
      {"empty binary frame", frame(kFin | kBinary, 0), 0, {}},
      {"16-bit length", frame(kFin | kText, 300), 0, {}},
      {"message exactly at the limit", frame(kFin | kText, kMax), 0, {}},
      {"ping, pong, empty close, close with code",
       frame(kFin | kPing, 125) + frame(kFin | kPong, 0) + frame(kFin | kClose, 0) +
           frame(kFin | kClose, 2),
       0,
       {}},
      {"fragmented message with a ping inside",
       frame(kText, 3) + frame(kFin | kPing, 4) + frame(kCont, 3) + frame(kFin | kCont, 3),
       0,
       {}},
      {"fragments summing exactly to the limit",
       frame(kText, 30000) + frame(kFin | kCont, kMax - 30000),
       0,
       {}},
      {"control frame without FIN", frame(kPing, 4), 1002, kFragmentedControl},
      {"close frame without FIN", frame(kClose, 2), 1002, kFragmentedControl},
      {"ping over 125 bytes (16-bit form)", header(kFin | kPing, 126), 1002, kControlTooLong},
      {"close over 125 bytes (64-bit form)", header(kFin | kClose, 70000), 1002, kControlTooLong},
      {"close with a 1-byte payload", frame(kFin | kClose, 1), 1002, kCloseOneByte},
      {"64-bit length with the top bit set", header(kFin | kText, 0x8000000000000000ULL), 1002,
       kLengthTopBit},
      {"64-bit length all ones", header(kFin | kBinary, ~0ULL), 1002, kLengthTopBit},
      {"16-bit form for a 7-bit length", header(kFin | kText, 5, LenForm::Ext16), 1002,
       kNonMinimalLength},
      {"64-bit form for a 16-bit length", header(kFin | kText, 1000, LenForm::Ext64), 1002,
       kNonMinimalLength},
      {"RSV1 set", frame(kFin | 0x40 | kText, 3), 1002, kReservedBits},
      {"RSV3 on a ping", frame(kFin | 0x10 | kPing, 0), 1002, kReservedBits},
      {"reserved data opcode 3", frame(kFin | 0x3, 0), 1002, kReservedOpcode},
      {"reserved control opcode 0xB", frame(kFin | 0xB, 0), 1002, kReservedOpcode},
      {"unmasked frame", header(kFin | kText, 5, LenForm::Minimal, false) + "hello", 1002,
       kUnmaskedFrame},
      {"continuation outside a message", frame(kFin | kCont, 3), 1002, kStrayContinuation},
      {"continuation after a finished message", frame(kFin | kText, 3) + frame(kCont, 3), 1002,
       kStrayContinuation},
      {"new message inside a fragmented one", frame(kText, 3) + frame(kFin | kBinary, 3), 1002,
       kInterleavedMessage},
      {"header over the limit, no payload sent", header(kFin | kText, kMax + 1), 1009, kTooBig},
      {"huge 64-bit length, no payload sent", header(kFin | kBinary, 1ULL << 40), 1009, kTooBig},
      {"fragments passing the limit", big_fragment + header(kCont, 30000), 1009, kTooBig},
      {"limit counts every fragment",
       frame(kText, 30000) + frame(kCont, 30000) + header(kFin | kCont, 6000), 1009, kTooBig},
  };
}

// A long reason (e.g. a backend's disconnect reason) is cut to 123 bytes on a character
// boundary: a cut inside a character would be invalid UTF-8, which clients fail on.
TEST(CloseFrame, LongReasonIsCutOnACharacterBoundary) {
  std::string reason(121, 'x');
  reason += "\xE2\x82\xAC";  // a 3-byte character across the 123-byte limit
  core::SharedFrame f = make_close_frame(4010, reason);
  std::string_view v = f.view();
  ASSERT_GE(v.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(v[1]), 2u + 121u);  // payload: code + the 121 whole bytes
  EXPECT_EQ(v.substr(4), std::string(121, 'x'));
  EXPECT_EQ(make_close_frame(1000, "bye").view().substr(4), "bye");
}

TEST(FrameBoundary, ChecksEveryHeaderRuleFedWhole) {
  for (const Case& c : cases()) {
    FrameBoundary fb;
    FrameVerdict v = fb.feed(c.bytes, kMax);
    EXPECT_EQ(v.close_code, c.code) << c.name;
    EXPECT_EQ(v.reason, c.reason) << c.name;
    EXPECT_EQ(v.ok(), c.code == 0) << c.name;
    if (c.code == 0) {
      EXPECT_TRUE(fb.at_message_boundary()) << c.name;
    }
  }
}

TEST(FrameBoundary, ReachesTheSameVerdictFedByteByByte) {
  for (const Case& c : cases()) {
    FrameBoundary fb;
    FrameVerdict v;
    size_t fed = 0;
    while (fed < c.bytes.size() && v.ok())
      v = fb.feed(std::string_view(c.bytes).substr(fed++, 1), kMax);
    EXPECT_EQ(v.close_code, c.code) << c.name;
    EXPECT_EQ(v.reason, c.reason) << c.name;
  }
}

TEST(FrameBoundary, DecidesTooBigFromTheLengthBeforeTheMaskKey) {
  FrameBoundary fb;
  std::string h = header(kFin | kText, 1ULL << 20);  // 2 + 8 length bytes + 4 mask bytes
  EXPECT_TRUE(fb.feed(h.substr(0, 9), kMax).ok());
  FrameVerdict v = fb.feed(h.substr(9, 1), kMax);
  EXPECT_EQ(v.close_code, 1009);
}

TEST(FrameBoundary, RefusesATopBitLengthBeforeTheMaskKey) {
  FrameBoundary fb;
  std::string h = header(kFin | kText, 0x8000000000000000ULL);
  FrameVerdict v = fb.feed(h.substr(0, 10), kMax);
  EXPECT_EQ(v.close_code, 1002);
  EXPECT_EQ(v.reason, close_reason::kLengthTopBit);
}

TEST(FrameBoundary, ValidPrefixEndsWhereTheOffendingFrameBegins) {
  const std::string good = frame(kFin | kText, 10) + frame(kFin | kPing, 3);
  FrameBoundary fb;
  FrameVerdict v = fb.feed(good + frame(kPing, 2), kMax);
  EXPECT_EQ(v.close_code, 1002);
  EXPECT_EQ(v.valid_prefix, good.size());

  // The offending header started in an earlier feed: nothing of this feed is valid.
  FrameBoundary split;
  std::string bad = header(kFin | kText, 5, LenForm::Ext16);
  EXPECT_TRUE(split.feed(good + bad.substr(0, 3), kMax).ok());
  v = split.feed(bad.substr(3), kMax);
  EXPECT_EQ(v.reason, close_reason::kNonMinimalLength);
  EXPECT_EQ(v.valid_prefix, 0u);
}

TEST(FrameBoundary, StaysFailedAfterAViolation) {
  FrameBoundary fb;
  EXPECT_EQ(fb.feed(frame(kFin | kClose, 1), kMax).close_code, 1002);
  FrameVerdict again = fb.feed(frame(kFin | kText, 3), kMax);
  EXPECT_EQ(again.close_code, 1002);
  EXPECT_EQ(again.reason, close_reason::kCloseOneByte);
  EXPECT_EQ(again.valid_prefix, 0u);
  EXPECT_FALSE(fb.at_message_boundary());
}

TEST(FrameBoundary, TracksMessageBoundaries) {
  FrameBoundary fb;
  EXPECT_TRUE(fb.at_message_boundary());
  std::string f = frame(kFin | kText, 20);
  EXPECT_TRUE(fb.feed(f.substr(0, 1), kMax).ok());
  EXPECT_FALSE(fb.at_message_boundary());  // partial header
  EXPECT_TRUE(fb.feed(f.substr(1, 10), kMax).ok());
  EXPECT_FALSE(fb.at_message_boundary());  // partial payload
  EXPECT_TRUE(fb.feed(f.substr(11), kMax).ok());
  EXPECT_TRUE(fb.at_message_boundary());
  EXPECT_TRUE(fb.feed(frame(kText, 3), kMax).ok());
  EXPECT_FALSE(fb.at_message_boundary());  // fragmented message pending
  EXPECT_TRUE(fb.feed(frame(kFin | kPing, 0), kMax).ok());
  EXPECT_FALSE(fb.at_message_boundary());
  EXPECT_TRUE(fb.feed(frame(kFin | kCont, 3), kMax).ok());
  EXPECT_TRUE(fb.at_message_boundary());
}

TEST(FrameBoundary, ALimitedMessageResetsTheRunningTotal) {
  // Two whole messages of 40000 bytes each: each counts alone against the limit.
  FrameBoundary fb;
  EXPECT_TRUE(fb.feed(frame(kFin | kText, 40000) + frame(kFin | kText, 40000), kMax).ok());
  EXPECT_TRUE(fb.feed(frame(kText, 40000) + frame(kFin | kCont, 0), kMax).ok());
  EXPECT_TRUE(fb.feed(frame(kFin | kBinary, 40000), kMax).ok());
}

}  // namespace
}  // namespace rtchat::server
