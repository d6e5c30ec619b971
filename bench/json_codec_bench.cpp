// Phoenix JSON codec hot paths: decoding a client new_msg push (once per inbound chat message)
// and encoding the frames a room fan-out builds once per event (new_msg, presence_diff).
#include <benchmark/benchmark.h>

#include <string>

#include "proto/phoenix_codec.h"

namespace {

using namespace rtchat::proto;

// A ~100-byte body with a quote and a non-ASCII character, as typical chat text has.
const std::string kBody =
    "Hey team, the deploy is done \xe2\x80\x94 please check \"room:ops\" and report anything odd "
    "today!";

void BM_DecodeClientNewMsg(benchmark::State& state) {
  std::string frame = R"(["5","17","room:lobby","new_msg",{"body":)";
  phoenix::append_json_string(frame, kBody);
  frame += "}]";
  ClientMessage msg;
  for (auto _ : state) {
    DecodeError err = phoenix::decode_client(frame, msg);
    benchmark::DoNotOptimize(err);
    benchmark::DoNotOptimize(msg.body.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
}
BENCHMARK(BM_DecodeClientNewMsg);

void BM_EncodeNewMsgBroadcast(benchmark::State& state) {
  const ChatMessage msg{123456, "lobby", "u42", "Alice", kBody, 1764300000000};
  std::string out;
  for (auto _ : state) {
    out.clear();  // the caller reuses one buffer, so capacity stays
    phoenix::encode_new_msg("room:lobby", msg, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EncodeNewMsgBroadcast);

void BM_EncodePresenceDiff(benchmark::State& state) {
  PresenceDiff diff;
  for (int64_t i = 0; i < state.range(0); ++i) {
    const std::string user = "user" + std::to_string(i);
    diff.joins.push_back(
        {user, {PresenceMeta{"F5mwztsish" + std::to_string(i), 1795835000609 + i, user, "phone"}}});
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    phoenix::encode_presence_diff("room:lobby", diff, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // items = joins encoded
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EncodePresenceDiff)->Arg(1)->Arg(100);

}  // namespace
