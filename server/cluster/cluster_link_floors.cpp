// After a Redis data loss (cluster_link_loss.cpp), the rooms of this node's local store are raised
// too, not only the rooms it has members in now: a room everybody had left when the data went
// keeps its ids above every id this node delivered and stored ("an id is never given to two
// messages"; docs/cluster.md "Data loss"). The store is the floor the loss cannot reach.
//
// Why a mailbox pair to the storage thread, not a read of the database here: the storage thread
// owns the one Store (thread-confined, SQLite opened without its mutex), and a read of every room
// on the link thread would stall the ordering of every room for its duration. So the link asks
// for one page of (room, newest stored id) at a time (Store::room_floors, two index seeks a room),
// pipelines one raise_sequence per room whose sequence lives on a master that lost its data, and
// asks for the next page. One page out at a time: memory and each turn's work stay bounded. While
// the pass runs, the masters' hold keys are set again every second (publishes there stay refused),
// for at most kMaxFloorHoldMs: a storage thread stuck longer than that lets the hold lapse
// (logged), rather than refuse that master's publishes for ever.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/log.h"

namespace rtchat::server {
namespace {
constexpr int kFloorPage = 256;  // rooms per storage request (and raises per pipeline)
constexpr int64_t kHoldRefreshMs = 1000;
}  // namespace

bool ClusterLink::FloorPass::running() const {
  for (bool lost : masters) {
    if (lost) return true;
  }
  return false;
}

void ClusterLink::set_storage_floors(core::Mailbox<StoreRoomFloors>& to_storage) {
  to_storage_ = std::make_unique<core::Outbox<StoreRoomFloors>>(to_storage);
}

void ClusterLink::start_store_floors(size_t node, int64_t now) {
  if (!to_storage_) return;
  if (!floors_.running()) {
    floors_.started_ms = now;
    floors_.rooms = 0;
    floors_.holding = true;
  }
  floors_.masters.resize(std::max(floors_.masters.size(), router_.size()), false);
  floors_.masters[node] = true;
  floors_.next_hold_ms = now + kHoldRefreshMs;  // the canary script has just set the hold
  if (floors_.asked) {
    floors_.restart = true;  // the page out may be past this master's rooms: start over
    return;
  }
  floors_.after.clear();
  ask_store_floors();
}

void ClusterLink::ask_store_floors() {
  floors_.asked = true;
  to_storage_->send(StoreRoomFloors{floors_.after, kFloorPage});
  to_storage_->flush();
}

bool ClusterLink::drain_floor_replies() {
  StoreRoomFloorsDone done;
  if (!floors_replies_->try_pop(done)) return false;
  on_store_floors(done);
  return true;
}

void ClusterLink::on_store_floors(StoreRoomFloorsDone& done) {
  floors_.asked = false;
  if (!done.ok) {  // logged by the storage thread; the holds lapse on their own
    floors_.masters.clear();
    return;
  }
  for (const auto& [room, last_id] : done.floors) {
    if (!up_) break;
    size_t node = router_.node_of(keys_.seq(room));
    if (last_id <= 0 || node >= floors_.masters.size() || !floors_.masters[node]) continue;
    // Pipelined (reply ignored): flushed with this turn's pipeline, the script is a max.
    append_raise(room, last_id);
    ++floors_.rooms;
  }
  if (!up_ || floors_.restart) {  // Redis went away mid-pass: tick asks again from the start
    floors_.restart = false;
    floors_.after.clear();
    if (up_) ask_store_floors();
    return;
  }
  if (static_cast<int>(done.floors.size()) == done.request.limit) {
    floors_.after = done.floors.back().first;
    ask_store_floors();
    return;
  }
  LOG_INFO("cluster_store_floors_restored", "rooms=%zu ms=%lld", floors_.rooms,
           static_cast<long long>(core::mono_millis() - floors_.started_ms));
  floors_.masters.clear();
}

// From tick: while a pass runs, the lost masters' publishes stay held; after kMaxFloorHoldMs the
// hold is let go (the store pass goes on, late).
void ClusterLink::keep_floor_holds(int64_t now) {
  if (!floors_.running()) return;
  if (!floors_.asked) {  // Redis was away when a page came back
    ask_store_floors();
    return;
  }
  if (now < floors_.next_hold_ms) return;
  floors_.next_hold_ms = now + kHoldRefreshMs;
  if (!floors_.holding) return;
  if (now - floors_.started_ms >= kMaxFloorHoldMs) {
    LOG_WARN("cluster_store_floors_slow", "rooms=%zu ms=%lld action=\"hold released\"",
             floors_.rooms, static_cast<long long>(now - floors_.started_ms));
    floors_.holding = false;
    return;
  }
  for (size_t n = 0; n < floors_.masters.size() && n < holds_.size(); ++n) {
    if (floors_.masters[n]) append({"SET", holds_[n], "1", "PX", std::to_string(kLossHoldMs)});
  }
  flush_pipeline();
}

}  // namespace rtchat::server
