// A join into rooms of 10, 100, 1,000 and 10,000 members, owner side: record the join (RoomOwner),
// answer it with the turn's shared presence_state (PresenceStateFrames: one state encoding per
// room per turn, a small head per joiner) and encode the turn's one presence_diff. One iteration
// is one owner loop turn with `joins` joiners (and as many leaves, so the room keeps its size).
// "Per join" figures divide by the joins; bytes_built counts bytes encoded (a shared buffer once),
// bytes_sent what the sockets carry (the state to each joiner, the diff to every member).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>

#include "proto/phoenix_codec.h"
#include "server/net/ws_frame.h"
#include "server/shard/presence_state_frames.h"
#include "server/shard/room_owner.h"

namespace {

using rtchat::server::ConnRef;
using rtchat::server::JoinAccepted;
using rtchat::server::JoinRoom;
using rtchat::server::LeaveRoom;
using rtchat::server::OwnedRoom;
using rtchat::server::PresenceStateFrames;
using rtchat::server::RoomOwner;
using rtchat::server::StoreCatchup;

constexpr char kRoom[] = "lobby";
constexpr char kTopic[] = "room:lobby";

JoinRoom join_request(uint32_t n) {
  JoinRoom r;
  r.room = kRoom;
  r.conn = ConnRef{0, n, 1};
  r.join_ref = std::to_string(1 + n % 4);  // a few distinct join_refs, as real clients have
  char id[16];
  std::snprintf(id, sizeof id, "u%07u", n);
  r.user_id = id;
  r.user_name = "User " + std::to_string(n);
  if (n % 2) r.device = "phone";
  return r;
}

struct Turn {
  int64_t built = 0;  // bytes encoded
  int64_t sent = 0;   // bytes queued on sockets
};

// One owner turn: `joins` joiners recorded, `joins` oldest members leave, every joiner answered
// with the shared state, the turn's diff encoded once for the room.
Turn run_turn(RoomOwner& owner, std::deque<uint32_t>& order, uint32_t& next, uint32_t joins,
              bool shared) {
  Turn t;
  std::vector<JoinRoom> turn;
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  OwnedRoom* room = nullptr;
  for (uint32_t i = 0; i < joins; ++i) {
    turn.push_back(join_request(next));
    order.push_back(next++);
    room = &owner.join(turn.back(), 100, accepted, catchup);
  }
  for (uint32_t i = 0; i < joins; ++i) {  // the oldest leave: the room keeps its size
    const uint32_t old = order.front();
    order.pop_front();
    owner.leave(LeaveRoom{kRoom, ConnRef{0, old, 1}, join_request(old).user_id});
  }
  if (shared) {  // as the server does: the state borrowed from the records, encoded once
    // The shard's buffers, reused every turn (OwnerRooms::TurnBuffers).
    static rtchat::proto::PresenceStateView state;
    static std::string scratch;
    rtchat::proto::PresenceEntries merged;
    owner.presence_state_view(*room, merged, state);
    PresenceStateFrames frames(kTopic, state, scratch);
    for (const auto& j : turn) {
      auto f = frames.for_join(false, j.join_ref);
      benchmark::DoNotOptimize(f.head.data());
      t.built += static_cast<int64_t>(f.head.size());
      t.sent += static_cast<int64_t>(f.head.size() + f.tail.size());
      if (&j == &turn.back()) t.built += static_cast<int64_t>(f.tail.size());
    }
  } else {  // what each join cost before: a copy of the state and its own whole frame
    const rtchat::proto::PresenceEntries state = owner.presence_state(*room);
    std::string payload;
    for (const auto& j : turn) {
      payload.clear();
      rtchat::proto::phoenix::encode_presence_state(j.join_ref, kTopic, state, payload);
      auto frame = rtchat::server::make_ws_frame(rtchat::server::WsOpcode::Text, payload);
      benchmark::DoNotOptimize(frame.data());
      t.built += static_cast<int64_t>(frame.size());
      t.sent += static_cast<int64_t>(frame.size());
    }
  }
  const uint64_t members = room->member_count();
  owner.take_pending_diffs([&](const std::string&, OwnedRoom&, rtchat::proto::PresenceDiff& d) {
    std::string diff;
    rtchat::proto::phoenix::encode_presence_diff(kTopic, d, diff);
    benchmark::DoNotOptimize(diff.data());
    t.built += static_cast<int64_t>(diff.size());
    t.sent += static_cast<int64_t>(diff.size() * members);
  });
  return t;
}

void join_bench(benchmark::State& state, bool shared) {
  const auto members = static_cast<uint32_t>(state.range(0));
  const auto joins = static_cast<uint32_t>(state.range(1));
  RoomOwner owner(0, 1);
  std::deque<uint32_t> order;
  uint32_t next = 0;
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  for (; next < members; ++next) {
    owner.join(join_request(next), 100, accepted, catchup);
    order.push_back(next);
  }
  owner.take_pending_diffs([](auto&, auto&, auto&) {});
  Turn total;
  for (auto _ : state) {
    Turn t = run_turn(owner, order, next, joins, shared);
    total.built += t.built;
    total.sent += t.sent;
  }
  const double n = static_cast<double>(state.iterations()) * joins;
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["bytes_built_per_join"] = static_cast<double>(total.built) / n;
  state.counters["bytes_sent_per_join"] = static_cast<double>(total.sent) / n;
}

// Shared state (this server): one encoding per room per turn.
void BM_JoinIntoRoom(benchmark::State& state) { join_bench(state, true); }
// One whole presence_state per joiner (before): for comparison.
void BM_JoinIntoRoomStatePerJoiner(benchmark::State& state) { join_bench(state, false); }

// A join storm: a room filled from empty to `members` in turns of `joins_per_turn` joins, each
// joiner answered with the room's state (no leaves: every turn only adds users). With the room's
// kept JSON state (PresenceStateCache, as the server does) a turn copies the text and encodes its
// new entries; without it every turn walks and encodes the room's records. The members then
// leave (untimed).
void storm_bench(benchmark::State& state, bool kept) {
  const auto members = static_cast<uint32_t>(state.range(0));
  const auto per_turn = static_cast<uint32_t>(state.range(1));
  RoomOwner owner(0, 1);
  rtchat::proto::PresenceStateView view;
  std::string scratch;
  JoinAccepted accepted;
  std::optional<StoreCatchup> catchup;
  int64_t sent = 0;
  uint32_t base = 0;  // fresh users every storm: a user's rejoins are rate limited
  for (auto _ : state) {
    for (uint32_t next = 0; next < members;) {
      OwnedRoom* room = nullptr;
      std::vector<std::optional<std::string>> refs;
      for (uint32_t i = 0; i < per_turn && next < members; ++i, ++next) {
        JoinRoom j = join_request(base + next);
        refs.push_back(j.join_ref);
        room = &owner.join(j, 100, accepted, catchup);
      }
      auto* cache = kept ? &room->state_cache : nullptr;
      rtchat::proto::PresenceEntries merged;
      view.clear();
      if (cache == nullptr || !cache->valid()) owner.presence_state_view(*room, merged, view);
      PresenceStateFrames frames(kTopic, view, scratch, cache, 0);
      for (const auto& ref : refs) {
        auto f = frames.for_join(false, ref);
        benchmark::DoNotOptimize(f.tail.data());
        sent += static_cast<int64_t>(f.head.size() + f.tail.size());
      }
      owner.take_pending_diffs([](auto&, auto&, auto&) {});
    }
    state.PauseTiming();
    for (uint32_t n = base; n < base + members; ++n) {
      owner.leave(LeaveRoom{kRoom, ConnRef{0, n, 1}, join_request(n).user_id});
    }
    owner.take_pending_diffs([](auto&, auto&, auto&) {});
    base += members;
    state.ResumeTiming();
  }
  const double n = static_cast<double>(state.iterations()) * members;
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["us_per_join"] =
      benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["state_bytes_per_join"] = static_cast<double>(sent) / n;
}
void BM_JoinStormKeptState(benchmark::State& state) { storm_bench(state, true); }
void BM_JoinStormEncodedPerTurn(benchmark::State& state) { storm_bench(state, false); }

void storm_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"members", "joins_per_turn"});
  b->Args({100, 1})->Args({100, 8})->Args({10000, 64});
  b->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_JoinStormKeptState)->Apply(storm_args);
BENCHMARK(BM_JoinStormEncodedPerTurn)->Apply(storm_args);

void join_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"members", "joins_per_turn"});
  for (int64_t members : {10, 100, 1000, 10000}) {
    b->Args({members, 1});
    b->Args({members, 16});
  }
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_JoinIntoRoom)->Apply(join_args);
BENCHMARK(BM_JoinIntoRoomStatePerJoiner)->Apply(join_args);

}  // namespace
