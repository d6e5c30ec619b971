// Room fan-out on one shard: a message is encoded once (Phoenix JSON + WebSocket header, into one
// refcounted SharedFrame) and queued to N local members by reference, then each member's pending
// frames are gathered into iovecs for one sendmsg — the per-message and per-delivery user-space
// cost of OwnerRooms::on_append_done + MemberRooms::on_broadcast + Reactor::flush_connection,
// without the kernel send.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "proto/phoenix_codec.h"
#include "server/net/outbound_queue.h"
#include "server/net/ws_frame.h"

namespace {

using rtchat::server::OutboundQueue;

void BM_FanoutEncodeOnceQueueToMembers(benchmark::State& state) {
  const auto members = static_cast<size_t>(state.range(0));
  std::vector<OutboundQueue> queues(members);
  rtchat::proto::ChatMessage msg{42, "lobby", "u42", "Alice", std::string(100, 'x'), 1764300000000};
  std::string scratch;
  iovec iov[OutboundQueue::kMaxIov];
  for (auto _ : state) {
    scratch.clear();
    rtchat::proto::phoenix::encode_new_msg("room:lobby", msg, scratch);
    auto frame = rtchat::server::make_ws_frame(rtchat::server::WsOpcode::Text, scratch);
    for (auto& q : queues) q.push(frame);  // one refcount increment, no copy, per member
    for (auto& q : queues) {
      size_t n = q.gather(iov);
      benchmark::DoNotOptimize(n);
      q.consume(frame.size());  // as if the send completed
    }
    ++msg.id;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(members));  // deliveries
  state.counters["messages_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FanoutEncodeOnceQueueToMembers)->Arg(1)->Arg(100)->Arg(1000)->Arg(10000);

// The alternative we avoid: encoding the frame again for every recipient.
void BM_FanoutEncodePerMember(benchmark::State& state) {
  const auto members = static_cast<size_t>(state.range(0));
  std::vector<OutboundQueue> queues(members);
  rtchat::proto::ChatMessage msg{42, "lobby", "u42", "Alice", std::string(100, 'x'), 1764300000000};
  std::string scratch;
  for (auto _ : state) {
    for (auto& q : queues) {
      scratch.clear();
      rtchat::proto::phoenix::encode_new_msg("room:lobby", msg, scratch);
      q.push(rtchat::server::make_ws_frame(rtchat::server::WsOpcode::Text, scratch));
      q.clear();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(members));
}
BENCHMARK(BM_FanoutEncodePerMember)->Arg(100)->Arg(1000);

}  // namespace
