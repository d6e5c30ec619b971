#include "server/net/outbound_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace rtchat::server {
namespace {

std::string gathered(const OutboundQueue& q) {
  iovec iov[OutboundQueue::kMaxIov];
  size_t n = q.gather(iov);
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

TEST(OutboundQueue, GathersInOrderAndConsumesPartialSends) {
  OutboundQueue q;
  q.push(core::SharedFrame::copy_of("abc"));
  q.push(core::SharedFrame::copy_of("de"));
  q.push(core::SharedFrame::copy_of("fgh"));
  EXPECT_EQ(q.bytes(), 8u);
  EXPECT_EQ(gathered(q), "abcdefgh");
  q.consume(4);  // into the second frame
  EXPECT_EQ(q.bytes(), 4u);
  EXPECT_EQ(gathered(q), "efgh");
  q.consume(4);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(gathered(q), "");
}

// An emptied queue's vector goes to the thread's spares and another queue takes it: it must come
// with nothing of the first queue's (no stale frame, no reference kept).
TEST(OutboundQueue, ASpareVectorCarriesNothingOver) {
  core::SharedFrame first = core::SharedFrame::copy_of("first");
  {
    OutboundQueue a;
    for (int i = 0; i < 3; ++i) a.push(first);
    EXPECT_EQ(first.use_count(), 4u);
    a.consume(15);
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(first.use_count(), 1u) << "an emptied queue holds no reference";
  }
  for (int round = 0; round < 3; ++round) {
    OutboundQueue b;
    b.push(core::SharedFrame::copy_of("second"));
    EXPECT_EQ(gathered(b), "second");
    EXPECT_EQ(b.bytes(), 6u);
    b.consume(6);
    EXPECT_TRUE(b.empty());
  }
  // A queue that grew past the kept capacity still works after it empties.
  OutboundQueue big;
  std::string all;
  for (size_t i = 0; i < 3 * OutboundQueue::kKeptItems; ++i) {
    std::string part(1, static_cast<char>('a' + i % 26));
    big.push(core::SharedFrame::copy_of(part));
    all += part;
  }
  EXPECT_EQ(gathered(big), all);
  big.consume(all.size());
  EXPECT_TRUE(big.empty());
  big.push(core::SharedFrame::copy_of("z"));
  EXPECT_EQ(gathered(big), "z");
}

}  // namespace
}  // namespace rtchat::server
