// UserRecords (server/shard/room_owner.h) is our own small vector: a user's first presence record
// inline in the room's std::map node, a heap block only from a second socket on. The library
// alternatives are std::vector (what the owner used before) and boost::container::small_vector
// with one inline element (Debian's libboost-dev). Each is measured as a room's map of 10,000
// users with one socket each: the heap bytes an idle member costs (malloc's own accounting,
// chunk headers included), and the time to join them all and leave them all.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <boost/container/small_vector.hpp>
#include <map>
#include <string>
#include <vector>

#include "server/shard/room_owner.h"

namespace {

using rtchat::proto::PresenceMeta;
using rtchat::server::ConnRef;
using rtchat::server::PresenceRecord;
using rtchat::server::UserRecords;

constexpr uint32_t kUsers = 10'000;

PresenceRecord record(uint32_t i) {
  return PresenceRecord{PresenceMeta::local(0, i + 1, 1764300000000, "User " + std::to_string(i)),
                        ConnRef{0, i, 1}, false};
}

std::vector<std::string> user_ids() {
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < kUsers; ++i) ids.push_back("user-" + std::to_string(i));
  return ids;
}

size_t heap_in_use() { return mallinfo2().uordblks; }

template <typename Records>
void BM_RoomOfIdleMembers(benchmark::State& state) {
  const std::vector<std::string> ids = user_ids();
  double bytes_per_member = 0;
  for (auto _ : state) {
    const size_t before = heap_in_use();
    {
      std::map<std::string, Records, std::less<>> room;
      for (uint32_t i = 0; i < kUsers; ++i) room[ids[i]].push_back(record(i));
      bytes_per_member = static_cast<double>(heap_in_use() - before) / kUsers;
      benchmark::DoNotOptimize(room);
      for (uint32_t i = 0; i < kUsers; ++i) room.erase(ids[i]);  // everyone leaves
    }
  }
  state.counters["bytes_per_member"] = bytes_per_member;
  state.SetItemsProcessed(state.iterations() * kUsers);
}

BENCHMARK_TEMPLATE(BM_RoomOfIdleMembers, UserRecords)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_RoomOfIdleMembers, std::vector<PresenceRecord>)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_RoomOfIdleMembers, boost::container::small_vector<PresenceRecord, 1>)
    ->Unit(benchmark::kMillisecond);

}  // namespace
