// Presence on the owner shard: join/leave churn in a big room (RoomOwner bookkeeping plus the one
// presence_diff encoded per room per loop turn), and the presence_state a joiner of that room gets.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>

#include "proto/phoenix_codec.h"
#include "server/shard/room_owner.h"

namespace {

using rtchat::server::ConnRef;
using rtchat::server::JoinAccepted;
using rtchat::server::JoinRoom;
using rtchat::server::LeaveRoom;
using rtchat::server::OwnedRoom;
using rtchat::server::RoomOwner;
using rtchat::server::StoreCatchup;

constexpr unsigned kShards = 2;
constexpr char kRoom[] = "lobby";
constexpr char kTopic[] = "room:lobby";

// Realistic sizes: an 8-character user id, a short display name, a device label on half of them.
JoinRoom join_request(uint32_t n) {
  JoinRoom r;
  r.room = kRoom;
  r.conn = ConnRef{n % kShards, n, 1};
  r.join_ref = "3";
  char id[16];
  std::snprintf(id, sizeof id, "u%07u", n);
  r.user_id = id;
  r.user_name = "User " + std::to_string(n);
  if (n % 2) r.device = "phone";
  return r;
}

void join(RoomOwner& owner, uint32_t n) {
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  benchmark::DoNotOptimize(&owner.join(join_request(n), 100, accepted, catchup));
}

// A room with `members` connections, pending diffs already flushed. Returns the next free number.
uint32_t fill(RoomOwner& owner, uint32_t members, std::deque<uint32_t>& order) {
  for (uint32_t n = 0; n < members; ++n) {
    join(owner, n);
    order.push_back(n);
  }
  owner.take_pending_diffs([](const std::string&, OwnedRoom&, rtchat::proto::PresenceDiff&) {});
  return members;
}

// One iteration is one loop turn: `batch` new connections join, the `batch` oldest leave (the room
// stays at its size), and the owner encodes the turn's one presence_diff.
void BM_PresenceChurn(benchmark::State& state) {
  const auto members = static_cast<uint32_t>(state.range(0));
  const auto batch = static_cast<uint32_t>(state.range(1));
  RoomOwner owner(0, kShards);
  std::deque<uint32_t> order;
  uint32_t next = fill(owner, members, order);
  std::string frame;
  int64_t diffs = 0;
  int64_t diff_bytes = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < batch; ++i) {
      join(owner, next);
      order.push_back(next++);
      uint32_t old = order.front();
      order.pop_front();
      bool left =
          owner.leave(LeaveRoom{kRoom, ConnRef{old % kShards, old, 1}, join_request(old).user_id});
      benchmark::DoNotOptimize(left);
    }
    owner.take_pending_diffs(
        [&](const std::string&, OwnedRoom&, rtchat::proto::PresenceDiff& diff) {
          frame.clear();
          rtchat::proto::phoenix::encode_presence_diff(kTopic, diff, frame);
          benchmark::DoNotOptimize(frame.data());
          ++diffs;
          diff_bytes += static_cast<int64_t>(frame.size());
        });
  }
  state.SetItemsProcessed(diffs);
  state.SetBytesProcessed(diff_bytes);
  state.counters["diffs_per_s"] =
      benchmark::Counter(static_cast<double>(diffs), benchmark::Counter::kIsRate);
  state.counters["changes_per_s"] =
      benchmark::Counter(static_cast<double>(diffs) * 2 * batch, benchmark::Counter::kIsRate);
  state.counters["bytes_per_diff"] =
      diffs ? static_cast<double>(diff_bytes) / static_cast<double>(diffs) : 0.0;
}
BENCHMARK(BM_PresenceChurn)->ArgNames({"members", "batch"})->Args({10000, 1})->Args({10000, 100});

// What every joiner of a 10k room costs the owner: build the entries and encode presence_state.
void BM_PresenceStateEncode(benchmark::State& state) {
  const auto members = static_cast<uint32_t>(state.range(0));
  RoomOwner owner(0, kShards);
  std::deque<uint32_t> order;
  fill(owner, members, order);
  const OwnedRoom& room = *owner.find(kRoom);
  std::string frame;
  const std::optional<std::string> join_ref = "3";
  for (auto _ : state) {
    rtchat::proto::PresenceEntries entries = owner.presence_state(room);
    frame.clear();
    rtchat::proto::phoenix::encode_presence_state(join_ref, kTopic, entries, frame);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_PresenceStateEncode)->ArgName("members")->Arg(10000)->Unit(benchmark::kMicrosecond);

// The encoding alone (entries already built), to split the cost above.
void BM_PresenceStateEncodeOnly(benchmark::State& state) {
  const auto members = static_cast<uint32_t>(state.range(0));
  RoomOwner owner(0, kShards);
  std::deque<uint32_t> order;
  fill(owner, members, order);
  const rtchat::proto::PresenceEntries entries = owner.presence_state(*owner.find(kRoom));
  std::string frame;
  const std::optional<std::string> join_ref = "3";
  for (auto _ : state) {
    frame.clear();
    rtchat::proto::phoenix::encode_presence_state(join_ref, kTopic, entries, frame);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_PresenceStateEncodeOnly)
    ->ArgName("members")
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
