// The shard's connection slots: a slot per live connection, named across threads by ConnRef
// {shard, slot, generation}; the generation makes a stale ConnRef miss after the slot is reused.
// Also the per-turn lists the reactor works through at the end of a loop turn: connections with
// output to flush (dirty) and connections past their outbound cap (too slow). No ring here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/keyed_counters.h"
#include "core/shared_frame.h"
#include "server/metrics.h"
#include "server/shard/connection.h"

namespace rtchat::server {

class ConnectionTable {
 public:
  ConnectionTable(unsigned shard, size_t outbound_cap_bytes, double rate_burst,
                  core::KeyedCounters& sockets_per_ip, ShardMetrics& metrics);
  ~ConnectionTable();
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // The slot the next allocate() hands out.
  [[nodiscard]] uint32_t next_slot() const;
  Connection& allocate(int file_index);
  Connection* lookup(uint32_t slot, uint32_t generation);
  // nullptr for a ConnRef of another shard, a freed slot or an older generation.
  Connection* lookup(const ConnRef& ref);
  // Frees the slot once nothing refers to it: Dead, closed, and no request in flight
  // (a late completion must not find a new connection in it). c is gone when this returns true.
  bool release(Connection& c);
  [[nodiscard]] size_t live() const { return live_; }
  // Slot -> its connection (null: free). Raw pointers into the table's chunks.
  const std::vector<Connection*>& slots() const { return slots_; }

  // Connections accepted and not yet upgraded or answered (--max-pending-handshakes).
  void http_opened() { ++http_connections_; }
  void http_ended() { --http_connections_; }
  [[nodiscard]] size_t http_connections() const { return http_connections_; }

  // Queues a frame for the connection (WebSocket or HTTP phase only) and marks it dirty.
  // The enqueue-time outbound cap: past --outbound-cap-bytes nothing more is queued and the
  // connection is listed as too slow; the shard closes it with 4008 at the end of the turn, after
  // the frames it already has, so what it read is a prefix of its stream with no hole and it
  // resumes from last_seen_id. Counting here bounds every byte a connection can make the server
  // hold (replies, history pages, presence state, broadcasts) to the cap plus one frame, however
  // fast frames arrive within one turn.
  void queue_frame(Connection& c, core::SharedFrame frame);
  // A close frame: queued even past the cap (the cap's own close, 4008, included).
  void queue_close_frame(Connection& c, core::SharedFrame frame);
  // Keeps a live frame for a channel whose catch-up is loading. Held frames are output waiting
  // for the catch-up: they count against the same cap, so a slow catch-up in a busy room cannot
  // grow the held list without bound.
  void hold_frame(Connection& c, Channel& ch, int64_t message_id, const core::SharedFrame& frame);
  void mark_dirty(Connection& c);
  // The lists of this turn, worked through (and emptied) by the end of the turn.
  std::vector<uint32_t>& dirty() { return dirty_; }
  std::vector<ConnRef> take_too_slow();

 private:
  void mark_too_slow(Connection& c);

  unsigned shard_;
  size_t outbound_cap_bytes_;
  double rate_burst_;
  core::KeyedCounters& sockets_per_ip_;
  ShardMetrics& metrics_;
  // Connections live in chunks of kChunkSlots, slot s at chunks_[s / kChunkSlots]: one
  // allocation per 64 sockets, made once and reused, instead of one heap block per socket among
  // the storm's short-lived ones (which left its pages pinned after the storm: fragmentation
  // measured at ~40 % of the idle RSS). Chunks are never freed while the table lives.
  static constexpr uint32_t kChunkSlots = 64;
  struct alignas(Connection) Chunk {
    std::byte storage[kChunkSlots][sizeof(Connection)];
  };
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::vector<Connection*> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> dirty_;    // slots with output to flush this turn
  std::vector<ConnRef> too_slow_;  // over the outbound cap: closed at the end of the turn
  size_t live_ = 0;
  size_t http_connections_ = 0;
};

}  // namespace rtchat::server
