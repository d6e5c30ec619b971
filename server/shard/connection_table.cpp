#include "server/shard/connection_table.h"

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "core/clock.h"

namespace rtchat::server {

ConnectionTable::ConnectionTable(unsigned shard, size_t outbound_cap_bytes, double rate_burst,
                                 core::KeyedCounters& sockets_per_ip, ShardMetrics& metrics)
    : shard_(shard),
      outbound_cap_bytes_(outbound_cap_bytes),
      rate_burst_(rate_burst),
      sockets_per_ip_(sockets_per_ip),
      metrics_(metrics) {
  slots_.reserve(1024);
}

namespace {

// The chunks hide a released Connection from AddressSanitizer (the memory stays allocated): the
// sanitizer build poisons a free slot so a use after release() is still reported.
#if defined(__SANITIZE_ADDRESS__)
void poison_slot(void* p, size_t n) { __asan_poison_memory_region(p, n); }
void unpoison_slot(void* p, size_t n) { __asan_unpoison_memory_region(p, n); }
#else
void poison_slot(void*, size_t) {}
void unpoison_slot(void*, size_t) {}
#endif

}  // namespace

ConnectionTable::~ConnectionTable() {
  for (Connection* c : slots_) {
    if (c != nullptr) c->~Connection();
  }
}

uint32_t ConnectionTable::next_slot() const {
  return free_slots_.empty() ? static_cast<uint32_t>(slots_.size()) : free_slots_.back();
}

Connection& ConnectionTable::allocate(int file_index) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    generations_.push_back(0);
  }
  if (slot / kChunkSlots >= chunks_.size()) {
    chunks_.push_back(std::make_unique<Chunk>());
    poison_slot(chunks_.back()->storage, sizeof(Chunk::storage));
  }
  std::byte* storage = chunks_[slot / kChunkSlots]->storage[slot % kChunkSlots];
  unpoison_slot(storage, sizeof(Connection));
  auto* c = new (storage) Connection();
  c->ref = ConnRef{shard_, slot, generations_[slot]};
  c->file_index = file_index;
  c->last_rx_ms = core::mono_millis();
  c->tokens = rate_burst_;
  c->tokens_at_ms = c->last_rx_ms;
  slots_[slot] = c;
  ++live_;
  metrics_.connections_open.set(live_);
  return *c;
}

Connection* ConnectionTable::lookup(uint32_t slot, uint32_t generation) {
  if (slot >= slots_.size() || !slots_[slot]) return nullptr;
  Connection* c = slots_[slot];
  return (c->ref.generation & 0xFFFFFFu) == (generation & 0xFFFFFFu) ? c : nullptr;
}

Connection* ConnectionTable::lookup(const ConnRef& ref) {
  return ref.shard == shard_ ? lookup(ref.slot, ref.generation) : nullptr;
}

bool ConnectionTable::release(Connection& c) {
  if (c.phase != Phase::Dead || !c.close_done || c.recv_armed || c.send_inflight) return false;
  sockets_per_ip_.release(c.peer_ip.text());
  uint32_t slot = c.ref.slot;
  generations_[slot] = (generations_[slot] + 1) & 0xFFFFFFu;
  slots_[slot] = nullptr;
  c.~Connection();
  poison_slot(&c, sizeof(Connection));
  free_slots_.push_back(slot);
  --live_;
  metrics_.connections_open.set(live_);
  return true;
}

void ConnectionTable::mark_dirty(Connection& c) {
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(c.ref.slot);
  }
}

void ConnectionTable::mark_too_slow(Connection& c) {
  c.is_too_slow = true;
  too_slow_.push_back(c.ref);
}

void ConnectionTable::queue_frame(Connection& c, core::SharedFrame frame) {
  if (c.phase != Phase::WebSocket && c.phase != Phase::Http) return;
  if (c.is_too_slow) return;  // past the cap: the close (4008) is pending, see the header
  c.out.push(std::move(frame));
  if (c.phase == Phase::WebSocket && c.out.bytes() > outbound_cap_bytes_) mark_too_slow(c);
  mark_dirty(c);
}

void ConnectionTable::queue_close_frame(Connection& c, core::SharedFrame frame) {
  if (c.phase != Phase::WebSocket) return;
  c.out.push(std::move(frame));
  mark_dirty(c);
}

void ConnectionTable::hold_frame(Connection& c, Channel& ch, int64_t message_id,
                                 const core::SharedFrame& frame) {
  if (c.is_too_slow) return;
  if (!ch.catchup) ch.catchup = std::make_unique<CatchupHold>();  // holding = catching up
  ch.catchup->held.push_back(HeldFrame{message_id, frame});
  ch.catchup->held_bytes += frame.size();
  c.held_bytes += static_cast<uint32_t>(frame.size());
  if (c.held_bytes + c.out.bytes() > outbound_cap_bytes_) mark_too_slow(c);
}

std::vector<ConnRef> ConnectionTable::take_too_slow() {
  std::vector<ConnRef> out;
  out.swap(too_slow_);
  return out;
}

}  // namespace rtchat::server
