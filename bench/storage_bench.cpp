// History store throughput and latency on a real WAL-mode file under /tmp: appends per second at
// group-commit batch sizes 1, 64 and 512, and the latency of one history page.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "server/storage/sqlite_store.h"

namespace {

using rtchat::proto::ChatMessage;
using rtchat::server::SqliteOptions;
using rtchat::server::SqliteStore;

constexpr int kRooms = 100;         // spread over many rooms, as the owner shards send them
constexpr size_t kBodyBytes = 120;  // a typical chat line
constexpr int64_t kPrefillPerRoom = 1000;

// A fresh database directory under /tmp, removed when the benchmark ends.
class BenchDatabase {
 public:
  explicit BenchDatabase(bool synchronous_full) {
    std::random_device rd;
    dir_ =
        std::filesystem::temp_directory_path() / ("rtchat-storage-bench-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<SqliteStore>(SqliteOptions{.path = (dir_ / "history.db").string(),
                                                         .synchronous_full = synchronous_full});
  }
  ~BenchDatabase() {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  BenchDatabase(const BenchDatabase&) = delete;
  BenchDatabase& operator=(const BenchDatabase&) = delete;
  BenchDatabase(BenchDatabase&&) = delete;
  BenchDatabase& operator=(BenchDatabase&&) = delete;

  SqliteStore& store() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

// Fills batch with the next messages, round-robin over the rooms with per-room increasing ids.
void next_batch(std::vector<ChatMessage>& batch, std::vector<int64_t>& next_id, int64_t& ts) {
  for (size_t i = 0; i < batch.size(); ++i) {
    const int room = static_cast<int>(static_cast<size_t>(ts) % kRooms);
    ChatMessage& m = batch[i];
    m.room = "room-" + std::to_string(room);
    m.id = next_id[static_cast<size_t>(room)]++;
    m.user_id = "u" + std::to_string(m.id % 50);
    m.user = "User " + m.user_id;
    m.body.assign(kBodyBytes, 'x');
    m.ts = 1'700'000'000'000 + ts++;
  }
}

// Args: batch size, synchronous FULL (1) or NORMAL (0).
void BM_Append(benchmark::State& state) {
  BenchDatabase db(state.range(1) != 0);
  std::vector<ChatMessage> batch(static_cast<size_t>(state.range(0)));
  std::vector<int64_t> next_id(kRooms, 1);
  int64_t ts = 0;
  std::string error;
  for (auto _ : state) {
    state.PauseTiming();
    next_batch(batch, next_id, ts);
    state.ResumeTiming();
    if (!db.store().append(batch, error)) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Append)
    ->ArgNames({"batch", "sync_full"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({512, 0})
    ->Args({1, 1})
    ->Args({64, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A history page of 50 (the protocol default) from a store holding kRooms x kPrefillPerRoom
// messages appended interleaved, as live traffic leaves them. Arg: 0 = latest page, 1 = a page
// at a random point in the room's past.
void BM_Page(benchmark::State& state) {
  BenchDatabase db(false);
  std::vector<ChatMessage> batch(512);
  std::vector<int64_t> next_id(kRooms, 1);
  int64_t ts = 0;
  std::string error;
  while (ts < kRooms * kPrefillPerRoom) {
    next_batch(batch, next_id, ts);
    if (!db.store().append(batch, error)) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  std::mt19937 rng(42);
  std::vector<ChatMessage> out;
  bool has_more = false;
  const bool deep = state.range(0) != 0;
  for (auto _ : state) {
    const std::string room = "room-" + std::to_string(rng() % kRooms);
    std::optional<int64_t> before;
    if (deep) before = 1 + static_cast<int64_t>(rng() % kPrefillPerRoom);
    if (!db.store().page(room, before, 50, out, has_more)) {
      state.SkipWithError("page failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Page)->ArgName("deep")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
