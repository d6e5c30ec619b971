// One reactor shard: a thread pinned to a core with its own io_uring, its own listener
// (SO_REUSEPORT), its connections, and the rooms it owns. Shards talk only through mailboxes.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer_ring.h"
#include "core/doorbell.h"
#include "core/keyed_counters.h"
#include "core/mailbox.h"
#include "core/ring.h"
#include "server/config.h"
#include "server/messages/shard_message.h"
#include "server/messages/storage_messages.h"
#include "server/metrics.h"
#include "server/net/close_reasons.h"
#include "server/net/static_files.h"
#include "server/net/ws_frame.h"
#include "server/shard/connection.h"
#include "server/shard/presence_state_frames.h"
#include "server/shard/room_owner.h"

namespace rtchat::server {

class StorageThread;

// What every shard may read (immutable after start, atomics, or internally locked counters):
// built by Server.
struct SharedState {
  const ServerConfig* config = nullptr;
  const StaticFiles* static_files = nullptr;
  std::vector<ShardMetrics*> shard_metrics;
  const StorageMetrics* storage_metrics = nullptr;
  const ClusterStatus* cluster_status = nullptr;  // /healthz, /readyz
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> shards_running{0};
  core::KeyedCounters sockets_per_user;  // --max-conns-per-user, across shards
  core::KeyedCounters sockets_per_ip;    // --max-conns-per-ip, across shards
};

// The mailboxes of one shard, wired by Server before the threads start.
struct ShardWiring {
  std::vector<core::Mailbox<ShardMessage>*> inbox_from;  // [source shard] -> this shard
  std::vector<core::Mailbox<ShardMessage>*> outbox_to;   // this shard -> [target shard]
  core::Mailbox<StorageRequest>* to_storage = nullptr;
  core::Mailbox<StorageReply>* from_storage = nullptr;
};

class Shard {
  friend class ShardAccess;  // wslay's C callbacks

 public:
  Shard(unsigned index, SharedState& shared, int listen_fd);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  Shard(Shard&&) = delete;
  Shard& operator=(Shard&&) = delete;
  ~Shard();

  core::Doorbell& doorbell() { return doorbell_; }
  ShardMetrics& metrics() { return metrics_; }
  void wire(const ShardWiring& wiring);
  // The shard thread's body: returns after a drain completes (SharedState::stopping).
  void run();

 private:
  // ---- reactor (shard.cpp)
  void setup_ring();
  void arm_accept();
  void arm_doorbell();
  void arm_recv(Connection& c);
  void handle_cqe(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_recv(const io_uring_cqe& cqe);
  void on_send(const io_uring_cqe& cqe);
  void on_close_done(const io_uring_cqe& cqe);
  bool poll_mailboxes();
  void end_of_turn();
  void flush_connection(Connection& c);
  void sweep(int64_t now_ms);
  void release_heap_if_due(int64_t now_ms);  // shard 0: free heap pages back to the kernel
  void begin_drain();
  Connection* lookup(const ConnRef& ref);
  Connection* lookup(uint32_t slot, uint32_t generation);
  Connection& allocate(int file_index);
  void release(Connection& c);
  static std::string peer_address(int fd);
  static void refuse_unregistered(int fd, int status, std::string_view body);

  // ---- connection lifecycle
  // Queues a frame; past --outbound-cap-bytes the connection is marked too slow (closed 4008 at
  // the end of the turn) and nothing more is queued for it.
  void queue_frame(Connection& c, core::SharedFrame frame);
  void mark_dirty(Connection& c);         // flushed at the end of this turn
  void drop_output(Connection& c);        // only when no send is in flight
  void cancel_requests(Connection& c);    // cancels the socket's in-flight recv and send
  void close_after_flush(Connection& c);  // HTTP response queued, or close frame queued
  void close_websocket(Connection& c, uint16_t code, std::string_view reason);
  void close_with(Connection& c, Close which);  // a close of close_reasons.h's table
  void abort_connection(Connection& c);         // dead peer: no more output
  void start_linger(Connection& c);
  void submit_final_close(Connection& c);
  void leave_all_channels(Connection& c);
  void end_websocket(Connection& c);  // bookkeeping when a session leaves the WebSocket phase

  // ---- HTTP (shard_http.cpp)
  void on_http_bytes(Connection& c, std::string_view bytes);
  void handle_http_request(Connection& c, HttpRequest& req, std::string_view leftover);
  void handle_upgrade(Connection& c, HttpRequest& req, std::string_view leftover);
  void handle_history_api(Connection& c, HttpRequest& req, std::string_view room_id);
  void handle_dev_token(Connection& c, HttpRequest& req);
  void refuse_host(Connection& c, const HttpRequest& req);
  void respond(Connection& c, std::string response);
  std::string render_metrics() const;

  // ---- WebSocket + Phoenix session (shard_session.cpp)
  void start_websocket(Connection& c);
  bool ensure_wslay(Connection& c);
  bool release_idle_wslay(Connection& c);
  void on_ws_bytes(Connection& c, std::string_view bytes);
  void on_ws_message(Connection& c, uint8_t opcode, std::string_view payload);
  void collect_wslay_output(Connection& c);
  void handle_client_message(Connection& c, proto::ClientMessage& m);
  void handle_join(Connection& c, proto::ClientMessage& m);
  void handle_leave(Connection& c, proto::ClientMessage& m);
  void handle_push(Connection& c, Channel& ch, proto::ClientMessage& m);
  bool take_rate_token(Connection& c);
  // The storage thread is behind: new reads and appends are refused with "overloaded".
  [[nodiscard]] bool storage_overloaded() const;
  void send_reply(Connection& c, proto::Reply&& reply);
  void send_error_reply(Connection& c, const std::optional<std::string>& join_ref,
                        const std::optional<std::string>& ref, std::string_view topic,
                        std::string_view reason);
  core::SharedFrame encode_for(WireFormat format, const proto::ChatMessage& msg,
                               std::string_view topic);
  void send_channel_close(Connection& c, const Channel& ch);
  // Encodes one frame in the connection's wire format through the shared scratch buffer.
  template <typename Json, typename Binary>
  core::SharedFrame encode_frame(WireFormat format, Json&& json, Binary&& binary) {
    scratch_.clear();
    if (format == WireFormat::Binary) {
      binary(scratch_);
      return make_ws_frame(WsOpcode::Binary, scratch_);
    }
    json(scratch_);
    return make_ws_frame(WsOpcode::Text, scratch_);
  }
  // A room broadcast's frames, each encoded once: JSON always, binary only when the room has
  // binary members (lazily).
  template <typename Json, typename Binary>
  void encode_broadcast(RoomBroadcast& b, const OwnedRoom& room, Json&& json, Binary&& binary) {
    b.json = encode_frame(WireFormat::Json, json, binary);
    if (room.binary_members > 0) b.binary = encode_frame(WireFormat::Binary, json, binary);
  }

  // ---- rooms and cross-shard messages (shard_rooms.cpp)
  void send_to_shard(unsigned shard, ShardMessage&& message);
  void send_to_storage(StorageRequest&& request);
  void dispatch(ShardMessage&& message);
  void dispatch_storage(StorageReply&& reply);
  void on_join_room(JoinRoom&& m);
  void refuse_join(JoinRoom&& j, std::string reason);  // answered on the member shard
  void on_join_accepted(JoinAccepted&& m);
  void on_leave_room(LeaveRoom&& m);
  void on_publish(Publish&& m);
  void on_append_done(StoreAppendDone&& m);
  // A committed message (stored here, or ordered by Redis): the room's last id moves and every
  // member shard gets its frames, encoded once.
  void deliver_committed(OwnedRoom& room, const proto::ChatMessage& message);
  void on_typing(Typing&& m);
  void on_broadcast(RoomBroadcast&& m);
  void on_publish_ack(PublishAck&& m);
  void on_catchup_ready(CatchupReady&& m);
  void on_catchup_done(StoreCatchupDone&& m);
  void on_page_done(StorePageDone&& m);
  // room records (shard_rooms.cpp): loaded on creation, dropped when unused
  void on_room_loaded(StoreRoomLoaded&& m);
  void retry_waiting_joins(const std::string& room);
  void release_if_unused(const std::string& room);
  void drop_unused_rooms();
  // cluster mode (shard_cluster.cpp, docs/cluster.md)
  void on_cluster_deliver(ClusterDeliver&& m);
  void on_cluster_publish_done(ClusterPublishDone&& m);
  void on_cluster_room_synced(ClusterRoomSynced&& m);
  void broadcast_to_members(OwnedRoom& owned, RoomBroadcast&& b);  // to every member shard
  void flush_presence_diffs();
  // The joins of this turn, room by room: one presence_state per room shared by all its joiners
  // (shard_presence.cpp).
  void answer_turn_joins();
  void answer_join(JoinAccepted& accepted, std::optional<StoreCatchup>& catchup,
                   const JoinRoom& join, PresenceStateFrames& frames);
  void broadcast_presence_diff(const std::string& room, OwnedRoom& owned,
                               const proto::PresenceDiff& diff);
  void add_local_member(const std::string& room, const ConnRef& ref);
  void send_join_ok(Connection& c, const Channel& ch, std::optional<bool> recovered);
  // Keeps a live frame for a channel whose catch-up is loading (counted against the cap).
  void hold_frame(Connection& c, Channel& ch, int64_t message_id, const core::SharedFrame& frame);
  void remove_local_member(const std::string& room, const ConnRef& ref);

  unsigned index_;
  SharedState& shared_;
  const ServerConfig& config_;
  int listen_fd_;
  core::Doorbell doorbell_;
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<core::BufferRing> buffers_;
  uint64_t doorbell_value_ = 0;
  bool accept_armed_ = false;
  bool draining_ = false;
  int64_t drain_deadline_ms_ = 0;
  int64_t next_sweep_ms_ = 0;
  int64_t next_trim_ms_ = 0;
  size_t connections_at_last_trim_check_ = 0;

  std::vector<std::unique_ptr<Connection>> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> dirty_;          // slots with output to flush this turn
  std::vector<ConnRef> too_slow_;        // over the outbound cap: closed at the end of the turn
  std::deque<ShardMessage> self_queue_;  // messages from this shard to itself (owner == member)
  size_t live_connections_ = 0;
  size_t http_connections_ = 0;  // accepted, not yet upgraded or answered

  ShardWiring wiring_;
  std::vector<std::unique_ptr<core::Outbox<ShardMessage>>> outboxes_;
  std::unique_ptr<core::Outbox<StorageRequest>> storage_outbox_;

  RoomOwner owner_;
  // Rooms that may have become unused this turn: dropped at the end of the turn, after the presence
  // diffs they still owe are flushed (drop_unused_rooms).
  std::vector<std::string> maybe_unused_;
  // room id -> local members (slot, generation) on this shard.
  std::unordered_map<std::string, std::vector<ConnRef>> local_rooms_;

  ShardMetrics metrics_;
  std::string scratch_;  // encode buffer reused for every frame
};

}  // namespace rtchat::server
