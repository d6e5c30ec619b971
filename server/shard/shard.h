// One shard: a thread pinned to a core with its own io_uring, its own listener (SO_REUSEPORT),
// its connections and the rooms it owns. Shards talk only through mailboxes. The Shard itself
// only wires its one-job parts and runs the loop:
//   Reactor + ConnectionTable  sockets, completions, deadlines, the close state machine
//   HttpRoutes                 one HTTP request per connection, or the upgrade
//   Session                    WebSocket (wslay) + Phoenix: decode, rate limit, pushes, replies
//   MemberRooms                this shard's connections in rooms: joins, delivery, catch-up
//   OwnerRooms                 the rooms this shard owns: order, persist, fan-out, presence
// It implements their ports: OutboundPort over the mailboxes, ReactorEvents by routing to the
// routes and the session; incoming messages are dispatched to the member or owner side.
#pragma once

#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/doorbell.h"
#include "core/mailbox.h"
#include "server/shard/connection_table.h"
#include "server/shard/frame_encoder.h"
#include "server/shard/http_routes.h"
#include "server/shard/member_rooms.h"
#include "server/shard/owner_rooms.h"
#include "server/shard/ports.h"
#include "server/shard/reactor.h"
#include "server/shard/replies.h"
#include "server/shard/session.h"
#include "server/shard/shared_state.h"

namespace rtchat::server {

class Shard final : public OutboundPort, public ReactorEvents {
 public:
  Shard(unsigned index, SharedState& shared, int listen_fd);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  core::Doorbell& doorbell() { return doorbell_; }
  ShardMetrics& metrics() { return metrics_; }
  void wire(const ShardWiring& wiring);
  // The shard thread's body: returns after a drain completes (SharedState::stopping).
  void run();

  // ---- OutboundPort
  void send_to_shard(unsigned shard, ShardMessage&& message) override;
  void send_to_storage(StorageRequest&& request) override;
  [[nodiscard]] bool backlogged(unsigned target, size_t limit) const override;
  [[nodiscard]] bool storage_overloaded() const override;

  // ---- ReactorEvents
  void on_accepted(Connection& c) override { routes_.on_accepted(c); }
  void on_http_bytes(Connection& c, std::string_view bytes) override { routes_.on_bytes(c, bytes); }
  void on_ws_bytes(Connection& c, std::string_view bytes) override { session_.on_bytes(c, bytes); }
  void on_phase_end(Connection& c) override;
  void close_session(Connection& c, Close which) override { session_.close(c, which); }
  bool on_idle_tick(Connection& c) override {
    session_.notify_token_expiring(c, core::unix_millis() / 1000);
    return session_.release_idle(c);
  }

 private:
  bool poll_mailboxes();
  void dispatch(ShardMessage&& message);
  void dispatch(StorageReply&& reply);
  void end_of_turn();
  // Server API: closes every socket of the user on this shard with 4010.
  void disconnect_user(const DisconnectUser& d);
  void wait_for_work();
  [[nodiscard]] bool mail_pending() const;

  unsigned index_;
  SharedState& shared_;
  core::Doorbell doorbell_;
  ShardMetrics metrics_;
  ShardWiring wiring_;
  std::vector<std::unique_ptr<core::Outbox<ShardMessage>>> outboxes_;
  std::unique_ptr<core::Outbox<StorageRequest>> storage_outbox_;
  std::vector<ShardMessage> self_queue_;  // messages from this shard to itself (owner == member)
  std::vector<ShardMessage> self_batch_;  // self_queue_'s messages being dispatched

  ConnectionTable table_;
  Reactor reactor_;
  FrameEncoder encoder_;
  Replies replies_;
  MemberRooms members_;
  OwnerRooms owners_;
  Session session_;
  HttpRoutes routes_;
};

}  // namespace rtchat::server
