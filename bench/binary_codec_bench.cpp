// rtchat.v1 FlatBuffers codec hot paths next to the Phoenix JSON codec: encode and decode of a
// typical new_msg broadcast and of a presence_diff with 1 and 100 joins. The "wire_bytes" counter
// is the size of one encoded frame, so the two formats can be compared row by row.
#include <benchmark/benchmark.h>

#include <string>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace {

using namespace rtchat::proto;

enum class Wire { Binary, Json };

// A typical chat line: ~60 bytes of text with a short display name.
ChatMessage typical_message() {
  return ChatMessage{1048576,
                     "lobby",
                     "u42",
                     "Alice",
                     "Anyone up for lunch at noon? The usual place by the river.",
                     1764300000000};
}

PresenceDiff diff_with_joins(int joins) {
  PresenceDiff diff;
  for (int i = 0; i < joins; ++i) {
    // Appending (not "F" + to_string) sidesteps a GCC 12 -Wrestrict false positive.
    const std::string n = std::to_string(i);
    std::string user = "user";
    user += n;
    std::string phx_ref = "F1000";
    phx_ref += n;
    std::string name = "User ";
    name += n;
    diff.joins.push_back(
        {std::move(user),
         {PresenceMeta{std::move(phx_ref), 1764300000000 + i, std::move(name), "phone"}}});
  }
  return diff;
}

void encode_new_msg(Wire wire, const ChatMessage& msg, std::string& out) {
  if (wire == Wire::Binary) {
    binary::encode_new_msg("room:lobby", msg, out);
  } else {
    phoenix::encode_new_msg("room:lobby", msg, out);
  }
}

void encode_diff(Wire wire, const PresenceDiff& diff, std::string& out) {
  if (wire == Wire::Binary) {
    binary::encode_presence_diff("room:lobby", diff, out);
  } else {
    phoenix::encode_presence_diff("room:lobby", diff, out);
  }
}

DecodeError decode(Wire wire, std::string_view bytes, ServerMessage& out) {
  return wire == Wire::Binary ? binary::decode_server(bytes, out)
                              : phoenix::decode_server(bytes, out);
}

template <typename Encode>
void run_encode(benchmark::State& state, Encode encode) {
  std::string out;
  for (auto _ : state) {
    out.clear();  // callers reuse one buffer per connection or broadcast
    encode(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["wire_bytes"] = static_cast<double>(out.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}

void run_decode(benchmark::State& state, Wire wire, const std::string& bytes) {
  ServerMessage msg;
  for (auto _ : state) {
    if (decode(wire, bytes, msg) != DecodeError::None) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(msg);
  }
  state.counters["wire_bytes"] = static_cast<double>(bytes.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

void BM_EncodeNewMsg(benchmark::State& state, Wire wire) {
  const ChatMessage msg = typical_message();
  run_encode(state, [&](std::string& out) { encode_new_msg(wire, msg, out); });
}

void BM_DecodeNewMsg(benchmark::State& state, Wire wire) {
  std::string bytes;
  encode_new_msg(wire, typical_message(), bytes);
  run_decode(state, wire, bytes);
}

void BM_EncodePresenceDiff(benchmark::State& state, Wire wire) {
  const PresenceDiff diff = diff_with_joins(static_cast<int>(state.range(0)));
  run_encode(state, [&](std::string& out) { encode_diff(wire, diff, out); });
}

void BM_DecodePresenceDiff(benchmark::State& state, Wire wire) {
  std::string bytes;
  encode_diff(wire, diff_with_joins(static_cast<int>(state.range(0))), bytes);
  run_decode(state, wire, bytes);
}

// The server decodes client pushes: a new_msg push from each format.
void BM_DecodeClientNewMsg(benchmark::State& state, Wire wire) {
  ClientMessage push;
  push.join_ref = "3";
  push.ref = "42";
  push.topic = "room:lobby";
  push.event = ClientEvent::NewMsg;
  push.body = typical_message().body;
  std::string bytes;
  if (wire == Wire::Binary) {
    binary::encode_client(push, bytes);
  } else {
    phoenix::encode_client(push, bytes);
  }
  ClientMessage msg;
  for (auto _ : state) {
    const DecodeError err = wire == Wire::Binary ? binary::decode_client(bytes, msg)
                                                 : phoenix::decode_client(bytes, msg);
    if (err != DecodeError::None) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(msg);
  }
  state.counters["wire_bytes"] = static_cast<double>(bytes.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

BENCHMARK_CAPTURE(BM_EncodeNewMsg, binary, Wire::Binary);
BENCHMARK_CAPTURE(BM_EncodeNewMsg, json, Wire::Json);
BENCHMARK_CAPTURE(BM_DecodeNewMsg, binary, Wire::Binary);
BENCHMARK_CAPTURE(BM_DecodeNewMsg, json, Wire::Json);
BENCHMARK_CAPTURE(BM_DecodeClientNewMsg, binary, Wire::Binary);
BENCHMARK_CAPTURE(BM_DecodeClientNewMsg, json, Wire::Json);
BENCHMARK_CAPTURE(BM_EncodePresenceDiff, binary, Wire::Binary)->Arg(1)->Arg(100);
BENCHMARK_CAPTURE(BM_EncodePresenceDiff, json, Wire::Json)->Arg(1)->Arg(100);
BENCHMARK_CAPTURE(BM_DecodePresenceDiff, binary, Wire::Binary)->Arg(1)->Arg(100);
BENCHMARK_CAPTURE(BM_DecodePresenceDiff, json, Wire::Json)->Arg(1)->Arg(100);

}  // namespace
