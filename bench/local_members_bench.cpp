// LocalMembers (server/shard/local_members.h) is our own index: a room's member list plus open
// addressing over positions (4 bytes a slot, none below 64 members). The library alternative is
// the same list plus a std::unordered_map from connection to position. Both are timed here on
// what the index is for: a room of N members filled, then emptied in random order (a mass leave).
// Memory: 4 bytes a slot at a load of 1/4 to 1/2 (8-16 bytes a member) against a map node of 32
// bytes plus its bucket.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/heap_policy.h"
#include "server/shard/local_members.h"

namespace {

using rtchat::server::ConnRef;
using rtchat::server::LocalMembers;

std::vector<ConnRef> members(uint32_t n) {
  std::vector<ConnRef> refs;
  for (uint32_t i = 0; i < n; ++i) refs.push_back(ConnRef{i % 2, i, 1});
  return refs;
}

std::vector<ConnRef> shuffled(std::vector<ConnRef> refs) {
  std::shuffle(refs.begin(), refs.end(), std::mt19937(42));
  return refs;
}

// The library version of the same job: swap-with-last removal, positions in an unordered_map.
class MapIndexed {
 public:
  void add(const ConnRef& r) {
    pos_.emplace(key(r), list_.size());
    list_.push_back(r);
  }
  void remove(const ConnRef& r) {
    auto it = pos_.find(key(r));
    const size_t at = it->second;
    pos_.erase(it);
    if (at != list_.size() - 1) {
      list_[at] = list_.back();
      pos_[key(list_[at])] = at;
    }
    list_.pop_back();
  }

 private:
  static uint64_t key(const ConnRef& r) {
    return uint64_t{r.shard} << 56 | uint64_t{r.generation} << 32 | r.slot;
  }
  std::vector<ConnRef> list_;
  std::unordered_map<uint64_t, size_t> pos_;
};

template <typename Index>
void BM_FillThenMassLeave(benchmark::State& state) {
  // The server's malloc settings: without them glibc gives the vectors' pages back and faults
  // them in again every iteration past ~64 KiB, and that is what a default-heap run measures.
  rtchat::core::tune_heap();
  const auto n = static_cast<uint32_t>(state.range(0));
  const std::vector<ConnRef> in = members(n);
  const std::vector<ConnRef> out = shuffled(in);
  for (auto _ : state) {
    Index index;
    for (const ConnRef& r : in) index.add(r);
    for (const ConnRef& r : out) index.remove(r);
    benchmark::DoNotOptimize(&index);
  }
  state.SetItemsProcessed(state.iterations() * n * 2);  // one add and one remove per member
}

BENCHMARK(BM_FillThenMassLeave<LocalMembers>)->Arg(100)->Arg(1000)->Arg(10000)->Arg(50000);
BENCHMARK(BM_FillThenMassLeave<MapIndexed>)->Arg(100)->Arg(1000)->Arg(10000)->Arg(50000);

}  // namespace
