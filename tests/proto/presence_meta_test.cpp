// PresenceMeta packs its lengths into the spare bits of online_at and of its ref number: every
// field must come back exactly as given, whichever kind of meta (local or from elsewhere).
#include "proto/presence_meta.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::proto {
namespace {

TEST(PresenceMeta, TextRefMetaKeepsEveryFieldApart) {
  PresenceMeta m("G2.7", 1764300000123, "Ann Example", "laptop");
  EXPECT_EQ(m.phx_ref(), "G2.7");
  EXPECT_EQ(m.online_at(), 1764300000123);
  EXPECT_EQ(m.name(), "Ann Example");
  EXPECT_EQ(m.device(), "laptop");

  PresenceMeta no_ref("", 5, "bo", "");
  EXPECT_EQ(no_ref.phx_ref(), "");
  EXPECT_EQ(no_ref.name(), "bo");
  EXPECT_EQ(no_ref.device(), "");

  PresenceMeta empty;
  EXPECT_EQ(empty.phx_ref(), "");
  EXPECT_EQ(empty.online_at(), 0);
  EXPECT_EQ(empty.name(), "");
  EXPECT_EQ(empty.device(), "");
}

TEST(PresenceMeta, OnlineAtKeepsSignAndRangeAndClampsBeyond) {
  EXPECT_EQ(PresenceMeta("r", -1, "n").online_at(), -1);
  const int64_t max = (int64_t{1} << 47) - 1;  // ~4,400 years of milliseconds
  EXPECT_EQ(PresenceMeta("r", max, "n").online_at(), max);
  EXPECT_EQ(PresenceMeta("r", -max, "n").online_at(), -max);
  EXPECT_EQ(PresenceMeta("r", INT64_MAX, "n").online_at(), max);
  EXPECT_EQ(PresenceMeta("r", INT64_MIN, "n").online_at(), -max);
  // The clamp never leaks into the name's length.
  EXPECT_EQ(PresenceMeta("r", INT64_MIN, "name").name(), "name");
}

TEST(PresenceMeta, LongFieldsStayWhole) {
  const std::string ref(300, 'r');
  const std::string name(1000, 'n');
  const std::string device(32, 'd');
  PresenceMeta m(ref, 9, name, device);
  EXPECT_EQ(m.phx_ref(), ref);
  EXPECT_EQ(m.name(), name);
  EXPECT_EQ(m.device(), device);
  EXPECT_EQ(m.online_at(), 9);
  // Past 65,535 bytes a name keeps its head; the device stays the device.
  const std::string huge(70000, 'h');
  PresenceMeta h("x", 1, huge, "phone");
  EXPECT_EQ(h.name(), std::string(65535, 'h'));
  EXPECT_EQ(h.device(), "phone");
  // A cut never splits a character: 3-byte characters end at byte 65,535 only whole.
  std::string wide;
  while (wide.size() < 70000) wide += "\xe2\x82\xac";  // U+20AC
  PresenceMeta w("x", 1, wide, "");
  EXPECT_EQ(w.name().size(), 65535u);  // 21,845 whole characters
  EXPECT_EQ(w.name(), wide.substr(0, 65535));
  std::string off = "a" + wide;  // shifted by one: the last whole character ends at 65,533
  PresenceMeta o("x", 1, off, "");
  EXPECT_EQ(o.name(), off.substr(0, 65533));
}

TEST(PresenceMeta, LocalMetaWritesItsRefAndComparesByIt) {
  PresenceMeta a = PresenceMeta::local(3, 42, 1764300000000, "Ann", "tab");
  PresenceMeta b = PresenceMeta::local(3, 43, 1764300000000, "Ann", "tab");
  PresenceMeta a2 = PresenceMeta::local(3, 42, 1, "other", "");
  const std::string ref = a.phx_ref();
  EXPECT_EQ(ref.front(), 'F');
  EXPECT_TRUE(ref.ends_with(".3.16")) << ref;  // shard 3, serial 42 in base36
  EXPECT_EQ(a.name(), "Ann");
  EXPECT_EQ(a.device(), "tab");
  EXPECT_EQ(a.online_at(), 1764300000000);
  EXPECT_TRUE(a.same_ref(a2));
  EXPECT_FALSE(a.same_ref(b));
  // The same ref held as text (a meta that came back from elsewhere) is the same meta.
  PresenceMeta as_text(ref, 1764300000000, "Ann", "tab");
  EXPECT_TRUE(as_text.same_ref(a));
  EXPECT_TRUE(a.same_ref(as_text));
  EXPECT_EQ(as_text, a);
  EXPECT_NE(b, a);
  // Shard 0 and the largest shard and serial still write out.
  EXPECT_TRUE(PresenceMeta::local(0, 1, 0, "z").phx_ref().ends_with(".0.1"));
  const uint64_t max_serial = (uint64_t{1} << 48) - 1;
  PresenceMeta top = PresenceMeta::local(0x7fff, max_serial, 0, "z");
  EXPECT_TRUE(top.phx_ref().ends_with(".pa7.2rrvthnxtr")) << top.phx_ref();
}

}  // namespace
}  // namespace rtchat::proto
