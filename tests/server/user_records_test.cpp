// UserRecords keeps a user's first record inline and the rest in a heap block: every record must
// survive the moves between the two, in join order, whichever one leaves.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/shard/room_owner.h"

namespace rtchat::server {
namespace {

// Names past a std::string's inline capacity, so a lost or doubled move shows as a wrong name
// (and as a leak or a double free under the sanitizers).
PresenceRecord record(uint32_t slot) {
  const std::string name = "a name long enough for the heap #" + std::to_string(slot);
  return PresenceRecord{proto::PresenceMeta::local(0, slot, 1000 + slot, name, "dev"),
                        ConnRef{1, slot, 7}, slot % 2 == 1};
}

std::vector<uint32_t> slots(const UserRecords& r) {
  std::vector<uint32_t> out;
  for (const PresenceRecord& x : r) {
    EXPECT_EQ(x.meta.name(), "a name long enough for the heap #" + std::to_string(x.conn.slot));
    EXPECT_EQ(x.meta.online_at(), 1000 + x.conn.slot);
    EXPECT_EQ(x.binary, x.conn.slot % 2 == 1);
    out.push_back(x.conn.slot);
  }
  return out;
}

TEST(UserRecords, GrowsFromInlineAndKeepsJoinOrder) {
  UserRecords r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.begin(), r.end());
  std::vector<uint32_t> want;
  for (uint32_t i = 1; i <= kMaxSessionsPerUserInRoom; ++i) {
    r.push_back(record(i));
    want.push_back(i);
    EXPECT_EQ(slots(r), want);
  }
  EXPECT_EQ(r.size(), kMaxSessionsPerUserInRoom);
}

TEST(UserRecords, EraseAnywhereThenBackToInline) {
  for (size_t gone = 0; gone < 3; ++gone) {
    UserRecords r;
    for (uint32_t i = 1; i <= 3; ++i) r.push_back(record(i));
    std::vector<uint32_t> want{1, 2, 3};
    r.erase_at(gone);
    want.erase(want.begin() + static_cast<std::ptrdiff_t>(gone));
    EXPECT_EQ(slots(r), want);
    r.erase_at(0);  // one left: back inline
    EXPECT_EQ(slots(r), std::vector<uint32_t>{want[1]});
    r.push_back(record(9));  // and out again
    EXPECT_EQ(slots(r), (std::vector<uint32_t>{want[1], 9}));
    r.erase_at(1);
    r.erase_at(0);
    EXPECT_TRUE(r.empty());
    r.push_back(record(4));
    EXPECT_EQ(slots(r), std::vector<uint32_t>{4});
  }
}

// The metas borrowed for a presence_state (MetaRange over the records) read the same records.
TEST(UserRecords, MetaRangeReadsTheRecordsInPlace) {
  UserRecords r;
  r.push_back(record(1));
  proto::MetaRange one(r.begin(), r.size(), &PresenceRecord::meta);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(&one[0], &r[0].meta);
  r.push_back(record(2));
  r.push_back(record(3));
  proto::MetaRange three(r.begin(), r.size(), &PresenceRecord::meta);
  ASSERT_EQ(three.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(&three[i], &r[i].meta);
  EXPECT_EQ(three[2].name(), "a name long enough for the heap #3");
}

}  // namespace
}  // namespace rtchat::server
