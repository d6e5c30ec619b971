// SPSC throughput across two pinned threads: core::Mailbox (moodycamel::ReaderWriterQueue from
// Debian's libreaderwriterqueue-dev, what the shards use) against the raw moodycamel queue and
// boost::lockfree::spsc_queue (libboost-dev, copy-only push in 1.74). Bounded, preallocated, same
// item and capacity. A hand-written Rigtorp-style ring was tried and did not beat moodycamel here,
// so we kept the library.
#include <benchmark/benchmark.h>
#include <readerwriterqueue/readerwriterqueue.h>

#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <thread>

#include "core/affinity.h"
#include "core/doorbell.h"
#include "core/mailbox.h"

namespace {

constexpr size_t kCapacity = 16384;  // the shard-to-shard mailbox size (server/server.cpp)

// A message the size of a small cross-shard value (pointer + ids).
struct Item {
  uint64_t a = 0;
  uint64_t b = 0;
};

template <typename Push, typename Pop>
void run_two_threads(benchmark::State& state, Push push, Pop pop) {
  const int64_t n = state.range(0);
  rtchat::core::pin_current_thread(0);
  for (auto _ : state) {
    std::thread consumer([&] {
      rtchat::core::pin_current_thread(1);  // producer and consumer on different cores
      Item it;
      int64_t got = 0;
      while (got < n) {
        if (pop(it)) {
          benchmark::DoNotOptimize(it);
          ++got;
        }
      }
    });
    for (int64_t i = 0; i < n;) {
      if (push(Item{static_cast<uint64_t>(i), 0})) ++i;
    }
    consumer.join();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Spsc_Mailbox(benchmark::State& state) {
  rtchat::core::Doorbell bell;
  rtchat::core::Mailbox<Item> box(kCapacity, bell);
  run_two_threads(
      state, [&](Item&& v) { return box.try_push(std::move(v)); },
      [&](Item& v) { return box.try_pop(v); });
}
BENCHMARK(BM_Spsc_Mailbox)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

void BM_Spsc_Moodycamel(benchmark::State& state) {
  moodycamel::ReaderWriterQueue<Item> q(kCapacity);
  run_two_threads(
      state, [&](Item&& v) { return q.try_enqueue(std::move(v)); },
      [&](Item& v) { return q.try_dequeue(v); });
}
BENCHMARK(BM_Spsc_Moodycamel)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

void BM_Spsc_Boost(benchmark::State& state) {
  boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<kCapacity>> q;
  run_two_threads(
      state, [&](Item&& v) { return q.push(v); }, [&](Item& v) { return q.pop(v); });
}
BENCHMARK(BM_Spsc_Boost)
    ->Arg(1 << 20)
    ->UseRealTime()
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

// Push + pop on one thread: the cost of the queue operations without cache-line transfer.
void BM_SpscMailbox_SameThread(benchmark::State& state) {
  rtchat::core::Doorbell bell;
  rtchat::core::Mailbox<Item> box(kCapacity, bell);
  Item it;
  for (auto _ : state) {
    (void)box.try_push(Item{1, 2});
    (void)box.try_pop(it);
    benchmark::DoNotOptimize(it);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpscMailbox_SameThread);

}  // namespace
