#include "server/shard/shard.h"

#include "core/clock.h"
#include "core/overloaded.h"

namespace rtchat::server {
namespace {

constexpr size_t kMailboxBatch = 1024;  // messages taken from one mailbox per turn (fairness)
// Requests waiting for room in the storage mailbox (which holds 8192 more) before publishes,
// history pages and catch-ups are refused: a slow disk turns into "overloaded" replies, not
// into memory.
constexpr size_t kStorageBacklogLimit = 8192;

}  // namespace

Shard::Shard(unsigned index, SharedState& shared, int listen_fd)
    : index_(index),
      shared_(shared),
      table_(index, shared.config->outbound_cap_bytes, shared.config->rate_burst,
             shared.sockets_per_ip, metrics_),
      reactor_(index, *shared.config, listen_fd, table_, metrics_, shared.sockets_per_ip, *this),
      replies_(table_, encoder_),
      members_(*shared.config, table_, replies_, *this, metrics_),
      owners_(index, *shared.config, *this, encoder_, metrics_),
      session_(index, *shared.config, table_, replies_, members_, *this, reactor_,
               shared.sockets_per_user, metrics_),
      routes_(index, shared, table_, reactor_, *this, metrics_,
              [this](Connection& c, std::string_view leftover) { session_.start(c, leftover); }) {}

Shard::~Shard() = default;

void Shard::wire(const ShardWiring& wiring) {
  wiring_ = wiring;
  for (auto* mb : wiring_.outbox_to) {
    outboxes_.push_back(mb ? std::make_unique<core::Outbox<ShardMessage>>(*mb) : nullptr);
  }
  storage_outbox_ = std::make_unique<core::Outbox<StorageRequest>>(*wiring_.to_storage);
}

void Shard::run() {
  reactor_.start(doorbell_);
  shared_.shards_running.fetch_add(1);
  for (;;) {
    bool worked = reactor_.reap();
    worked |= poll_mailboxes();
    end_of_turn();
    if (reactor_.tick(shared_.stopping.load(std::memory_order_relaxed))) break;
    if (worked) {
      // With DEFER_TASKRUN completions are posted only when we enter with GETEVENTS: submit and
      // collect in one call, without blocking.
      reactor_.submit_and_wait(0);
      continue;
    }
    wait_for_work();
  }
  reactor_.close_all();
  shared_.shards_running.fetch_sub(1);
}

// Nothing to do: announce the sleep, look at the mailboxes once more, then block in the kernel
// until a completion, a doorbell or the next timer tick.
void Shard::wait_for_work() {
  bool backlog = storage_outbox_->backlog() > 0;
  for (auto& o : outboxes_) backlog |= o && o->backlog() > 0;
  // The next wake: the reactor's sweep, or a room's paced presence diff (presence_pacing.h).
  int64_t until_tick =
      std::min(reactor_.next_tick_ms(), owners_.next_diff_due_ms()) - core::mono_millis();
  int wait_ms = backlog ? 1 : static_cast<int>(std::max<int64_t>(1, until_tick));
  const bool slept = doorbell_.sleep_unless_pending([&] { return !mail_pending(); },
                                                    [&] { reactor_.submit_and_wait(wait_ms); });
  if (!slept) reactor_.submit_and_wait(0);  // submit what this turn queued
}

bool Shard::mail_pending() const {
  bool pending = !self_queue_.empty() || wiring_.from_storage->size_approx() > 0;
  for (auto* mb : wiring_.inbox_from) pending |= mb && mb->size_approx() > 0;
  return pending;
}

bool Shard::poll_mailboxes() {
  bool worked = false;
  if (!self_queue_.empty()) {
    // Two vectors taking turns, kept across turns: a deque of messages this large allocated a
    // block per message. dispatch may queue more for the next poll (into self_queue_).
    self_batch_.swap(self_queue_);
    for (auto& msg : self_batch_) dispatch(std::move(msg));
    self_batch_.clear();
    // A mass join grows them once; an idle shard does not keep megabytes for it.
    constexpr size_t kKeptMessages = 1024;
    if (self_batch_.capacity() > kKeptMessages) std::vector<ShardMessage>().swap(self_batch_);
    worked = true;
  }
  ShardMessage m;
  for (auto* mb : wiring_.inbox_from) {
    if (!mb) continue;
    for (size_t i = 0; i < kMailboxBatch && mb->try_pop(m); ++i) {
      dispatch(std::move(m));
      worked = true;
    }
  }
  StorageReply r;
  for (size_t i = 0; i < kMailboxBatch && wiring_.from_storage->try_pop(r); ++i) {
    dispatch(std::move(r));
    worked = true;
  }
  return worked;
}

void Shard::dispatch(ShardMessage&& message) {
  std::visit(core::Overloaded{
                 // ---- to the owner side, from member shards
                 [&](JoinRoom& m) { owners_.on_join_room(std::move(m)); },
                 [&](LeaveRoom& m) { owners_.on_leave_room(std::move(m)); },
                 [&](Publish& m) { owners_.on_publish(std::move(m)); },
                 [&](Typing& m) { owners_.on_typing(std::move(m)); },
                 // ---- to the member side and the sessions, from owners
                 [&](JoinAccepted& m) { members_.on_join_accepted(std::move(m)); },
                 [&](RoomBroadcast& m) { members_.on_broadcast(std::move(m)); },
                 [&](CatchupReady& m) { members_.on_catchup_ready(std::move(m)); },
                 [&](PublishAck& m) {
                   if (m.from_api) return routes_.api().on_publish_ack(std::move(m));
                   session_.on_publish_ack(std::move(m));
                 },
                 // ---- read state (read_state_owner.cpp, read_state_member.cpp)
                 [&](MarkRead& m) { owners_.on_mark_read(std::move(m)); },
                 [&](MarkReadAck& m) { session_.on_mark_read_ack(std::move(m)); },
                 [&](ReadStatePush& m) { members_.on_read_state_push(std::move(m)); },
                 [&](ClusterReadState& m) { owners_.on_cluster_read_state(std::move(m)); },
                 // ---- to the owner side, from the cluster link (docs/cluster.md)
                 [&](ClusterDeliver& m) { owners_.on_cluster_deliver(std::move(m)); },
                 [&](ClusterPublishDone& m) { owners_.on_cluster_publish_done(std::move(m)); },
                 [&](ClusterRoomSynced& m) { owners_.on_cluster_room_synced(std::move(m)); },
                 [&](ClusterPresenceIn& m) { owners_.on_cluster_presence_in(std::move(m)); },
                 [&](ClusterNodeDown& m) { owners_.on_cluster_node_down(std::move(m)); },
                 // ---- the server API (docs/protocol.md "Server API")
                 [&](ApiPresenceQuery& m) { owners_.on_api_presence_query(std::move(m)); },
                 [&](ApiRoomsQuery& m) { owners_.on_api_rooms_query(std::move(m)); },
                 [&](ApiPresenceAnswer& m) { routes_.api().on_presence_answer(std::move(m)); },
                 [&](ApiRoomsAnswer& m) { routes_.api().on_rooms_answer(std::move(m)); },
                 [&](DisconnectUser& m) { disconnect_user(m); },
                 // Shard -> link types: never sent to a shard.
                 [](ClusterPublish&) {},
                 [](ClusterWatch&) {},
                 [](ClusterPresenceOut&) {},
             },
             message);
}

void Shard::dispatch(StorageReply&& reply) {
  std::visit(core::Overloaded{
                 [&](StoreAppendDone& m) { owners_.on_append_done(std::move(m)); },
                 [&](StoreCatchupDone& m) { owners_.on_catchup_done(std::move(m)); },
                 [&](StoreRoomLoaded& m) { owners_.on_room_loaded(std::move(m)); },
                 [&](StoreMarkReadDone& m) { owners_.on_mark_read_done(std::move(m)); },
                 [&](StorePageDone& m) {
                   if (m.request.http) return routes_.on_page_done(std::move(m));
                   session_.on_page_done(std::move(m));
                 },
             },
             reply);
}

void Shard::on_phase_end(Connection& c) {
  if (c.phase == Phase::Http) {
    table_.http_ended();
  } else if (c.phase == Phase::WebSocket) {
    session_.end(c);
  }
}

void Shard::disconnect_user(const DisconnectUser& d) {
  for (auto& slot : table_.slots()) {
    if (!slot || slot->phase != Phase::WebSocket || slot->claims.sub() != d.user_id) continue;
    session_.close(*slot, static_cast<uint16_t>(CloseCode::DisconnectedByServer), d.reason);
  }
}

void Shard::end_of_turn() {
  owners_.end_of_turn();
  members_.end_of_turn();
  if (routes_.api().has_gathers()) routes_.api().expire_gathers(core::mono_millis());
  // Connections that passed their outbound cap this turn (ConnectionTable::queue_frame) are
  // closed here, outside the loops that found them: a close leaves rooms, which edits the member
  // lists those loops walk.
  for (const ConnRef& ref : table_.take_too_slow()) {
    Connection* c = table_.lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    metrics_.slow_consumer_closes.add();
    session_.close(*c, Close::TooSlow);
  }
  reactor_.flush();
  uint64_t backlog = storage_outbox_->backlog();
  for (auto& o : outboxes_) {
    if (!o) continue;
    o->flush();
    backlog += o->backlog();
  }
  storage_outbox_->flush();
  metrics_.mailbox_backlog.set(backlog);
}

void Shard::send_to_shard(unsigned shard, ShardMessage&& message) {
  if (shard == index_) {
    self_queue_.push_back(std::move(message));
  } else {
    outboxes_[shard]->send(std::move(message));
  }
}

void Shard::send_to_storage(StorageRequest&& request) { storage_outbox_->send(std::move(request)); }

bool Shard::backlogged(unsigned target, size_t limit) const {
  return target != index_ && outboxes_[target]->overloaded(limit);
}

bool Shard::storage_overloaded() const { return storage_outbox_->overloaded(kStorageBacklogLimit); }

}  // namespace rtchat::server
