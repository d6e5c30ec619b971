// Cluster presence on the owner shard: a room's remote metas (connections on other nodes) replaced
// by a snapshot from Redis (RoomOwner::replace_remote: a resync after a reconnect or a gap) and
// dropped when a node dies (drop_remote_node). Both run on the shard thread, so their cost in a
// room of thousands of remote members is a stall of every socket on that shard.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "server/shard/room_owner.h"

namespace {

using rtchat::server::ClusterMeta;
using rtchat::server::JoinAccepted;
using rtchat::server::JoinRoom;
using rtchat::server::OwnedRoom;
using rtchat::server::RoomOwner;
using rtchat::server::StoreCatchup;

constexpr char kRoom[] = "lobby";

// Meta i: two per user (one user on two nodes), a phx_ref shaped like ours ("F<start>.<shard>.
// <serial>"), a short name. generation changes the phx_ref: a reconnect of the same user.
ClusterMeta remote_meta(uint32_t i, uint32_t generation) {
  char user[16];
  std::snprintf(user, sizeof user, "u%07u", i / 2);
  char ref[32];
  std::snprintf(ref, sizeof ref, "Fk3x9q2a.%u.%x", generation, i);
  return ClusterMeta{i % 2 ? "node-b" : "node-c", user, {ref, 1700000000000, "User", ""}};
}

// A room on this owner with one local member (so it is in use) and no remote metas yet.
RoomOwner& room_with_local_member(RoomOwner& owner) {
  JoinRoom j;
  j.room = kRoom;
  j.user_id = "local";
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  owner.join(j, 100, accepted, catchup);
  owner.take_pending_diffs([](auto&, auto&, auto&) {});
  return owner;
}

// The metas joined plus left in the room's queued remote diff.
size_t take_diff_entries(RoomOwner& owner) {
  size_t n = 0;
  owner.take_remote_diffs([&](const std::string&, OwnedRoom&, rtchat::proto::PresenceDiff& d) {
    for (const auto& [user, metas] : d.joins) n += metas.size();
    for (const auto& [user, metas] : d.leaves) n += metas.size();
  });
  return n;
}

// One iteration: a snapshot of `metas` remote metas replaces the room's; `changed_pct` percent
// of them are new connections (the rest already known), so as many known ones leave. Snapshots
// alternate so every iteration does the same work. The copy handed over is made outside timing.
void BM_ReplaceRemote(benchmark::State& state) {
  const auto metas = static_cast<uint32_t>(state.range(0));
  const auto changed = static_cast<uint32_t>(state.range(1) * metas / 100);
  std::vector<ClusterMeta> snapshots[2];
  for (uint32_t i = 0; i < metas; ++i) {
    snapshots[0].push_back(remote_meta(i, 0));
    snapshots[1].push_back(remote_meta(i, i < changed ? 1 : 0));
  }
  RoomOwner owner(0, 1);
  room_with_local_member(owner);
  owner.replace_remote(kRoom, snapshots[0]);
  take_diff_entries(owner);
  size_t which = 1;
  size_t entries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<ClusterMeta> snapshot = snapshots[which];
    state.ResumeTiming();
    owner.replace_remote(kRoom, std::move(snapshot));
    entries = take_diff_entries(owner);
    which ^= 1;
  }
  if (changed > 0 && entries != 2 * changed) state.SkipWithError("unexpected diff size");
  state.counters["diff_entries"] = static_cast<double>(entries);
  state.counters["per_meta"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * metas,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ReplaceRemote)
    ->ArgsProduct({{1000, 10000}, {0, 50}})
    ->ArgNames({"metas", "changed_pct"})
    ->Unit(benchmark::kMicrosecond);

// One iteration: a node holding half of the room's `metas` remote metas dies; its metas leave.
// Refilling the room is not timed.
void BM_DropRemoteNode(benchmark::State& state) {
  const auto metas = static_cast<uint32_t>(state.range(0));
  std::vector<ClusterMeta> snapshot;
  for (uint32_t i = 0; i < metas; ++i) snapshot.push_back(remote_meta(i, 0));
  RoomOwner owner(0, 1);
  room_with_local_member(owner);
  size_t entries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    owner.replace_remote(kRoom, snapshot);
    take_diff_entries(owner);
    state.ResumeTiming();
    owner.drop_remote_node("node-b");
    entries = take_diff_entries(owner);
  }
  if (entries != metas / 2) state.SkipWithError("unexpected diff size");
  state.counters["per_meta"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * metas,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DropRemoteNode)
    ->Arg(1000)
    ->Arg(10000)
    ->ArgName("metas")
    ->Unit(benchmark::kMicrosecond);

}  // namespace
