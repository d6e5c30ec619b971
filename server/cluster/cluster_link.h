// The cluster link (--cluster redis://HOST:PORT or redis-cluster://HOST:PORT,...): the one thread
// of a node that talks to Redis, so that the shards never block on the network
// (docs/architecture.md). It is wired as one more mailbox peer of every shard: index = shard count
// in each shard's inbox_from/outbox_to.
//
// What it does (docs/cluster.md has the why):
// - Order: a ClusterPublish runs one Lua script (INCR the room's sequence -> id, XADD to the room's
//   stream, PUBLISH on the room's channel). Every node subscribed to the room, the publishing one
//   included, hands the room's owner shard one ClusterDeliver per id, in id order, each id once
//   (gaps are filled from the stream). The ClusterPublishDone (the client's ok) follows the
//   delivery of its id, so a sender sees its message before its ok, as on a single node.
// - Rooms: SUBSCRIBE only while the owner shard says the node has members (ClusterWatch); on each
//   subscribe the room's baseline (last id) and the other nodes' presence are read and sent back
//   as ClusterRoomSynced.
// - Presence: this node's metas per room live in a Redis hash and changes are published; a
//   liveness key (PX 3000, refreshed every second) says the node is up. Nodes whose key expired
//   are announced to the shards as ClusterNodeDown, and their metas are deleted from Redis.
// - Redis down: publishes get "cluster unavailable", rooms run local-only, reconnection retries
//   with backoff (100 ms doubling to 2 s), then resubscribes and resyncs every room.
//
// - Redis Cluster (redis-cluster://): the same on a cluster of masters (server/cluster/
//   cluster_router.h): keys tagged with the room (one slot per room), SPUBLISH/SSUBSCRIBE on the
//   room's master, and a publish is acknowledged and fanned out only after WAIT says a replica
//   has it (a failover cannot take back an id anybody saw). A lost master is handled like Redis
//   down for its rooms only (cluster_link_masters.cpp): the other masters' rooms keep working;
//   the map is read again until a replica took over, and only the rooms whose master changed are
//   subscribed again and resynced. A MOVED or a dropped shard subscription: the same refresh.
//
// Thread-confined: everything below the public API runs on the link thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/doorbell.h"
#include "core/mailbox.h"
#include "server/cluster/cluster_router.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/config.h"
#include "server/messages/shard_message.h"
#include "server/messages/storage_messages.h"
#include "server/metrics.h"

namespace rtchat::server {

class ClusterLink {
 public:
  // status: where /healthz and /readyz read the link's state (owned by the wiring).
  ClusterLink(const ServerConfig& config, unsigned shards, ClusterStatus& status);
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;
  ClusterLink(ClusterLink&&) = delete;
  ClusterLink& operator=(ClusterLink&&) = delete;
  ~ClusterLink();

  core::Doorbell& doorbell() { return doorbell_; }
  // shard -> link
  core::Mailbox<ShardMessage>& inbox(unsigned shard) { return *inboxes_[shard]; }
  // Wiring before start(): link -> shard.
  void set_shard_mailbox(unsigned shard, core::Mailbox<ShardMessage>& mailbox);
  // Wiring before start(): the storage thread's floors mailbox (link -> storage) and the link's
  // own for the answers (cluster_link_floors.cpp).
  void set_storage_floors(core::Mailbox<StoreRoomFloors>& to_storage);
  core::Mailbox<StoreRoomFloorsDone>& floors_replies() { return *floors_replies_; }
  void start();
  // Call after the shards have stopped: publishes their last presence leaves, deletes the
  // liveness key, then stops.
  void stop();

 private:
  static constexpr size_t kNoMaster = static_cast<size_t>(-1);
  struct Room {
    bool wanted = false;                            // the owner shard has members (ClusterWatch)
    bool subscribed = false;                        // synced on the current Redis connection
    size_t master = kNoMaster;                      // where (S)SUBSCRIBE was sent
    int64_t last_delivered = -1;                    // -1: never synced
    std::map<int64_t, proto::ChatMessage> pending;  // arrived ahead of a gap
    std::multimap<int64_t, ClusterPublishDone> acks;
    int64_t gap_since_ms = 0;
  };
  struct Pending {  // one pipelined command awaiting its reply
    enum class Kind { Other, Publish, Wait };
    Kind kind = Kind::Other;
    size_t publish = 0;  // index into publishes_
    size_t node = 0;     // the master it went to (0 for one Redis)
    bool asked = false;  // a publish sent again after an ASK (followed once)
  };
  // After a data loss: the rooms of this node's store raised on the masters that lost their data,
  // one page from the storage thread at a time (cluster_link_floors.cpp).
  struct FloorPass {
    std::vector<bool> masters;  // per master: lost its data, its store rooms still to raise
    bool asked = false;         // a page request is with the storage thread
    bool restart = false;       // a loss came while a page was out: start over from the first room
    std::string after;          // the last room of the previous page
    int64_t started_ms = 0;
    int64_t next_hold_ms = 0;  // when the masters' hold keys are set again (while the pass runs)
    size_t rooms = 0;          // raised so far in this pass
    bool holding = true;       // false once kMaxFloorHoldMs passed
    bool running() const;
  };
  using ReplyPtr = RedisReplyPtr;
  using ContextPtr = RedisContextPtr;

  void run(std::stop_token stop);
  bool drain_inboxes();
  void handle(ShardMessage&& m);
  void on_publish(ClusterPublish& p);
  void on_watch(ClusterWatch& w);
  void on_typing(Typing& t);
  void on_read_state(ClusterReadState& rs);  // issue 16: a stored mark, for the other nodes
  void on_presence_out(ClusterPresenceOut& po);
  void on_disconnect(DisconnectUser& d);
  void on_control_payload(std::string_view payload);
  void say_goodbye();
  void flush_pipeline();
  void write_pipelines();
  void on_publish_reply(const Pending& p, redisReply* reply);
  bool retry_on_ask(const Pending& p, std::string_view error);
  std::vector<std::string> publish_argv(const ClusterPublish& p, size_t master) const;
  void on_wait_reply(size_t node, redisReply* reply);
  void confirm(ClusterPublish& p, int64_t id);
  void fail_unanswered(size_t from);
  void subscribe(const std::string& room, bool on);
  const char* publish_verb() const { return router_.cluster() ? "SPUBLISH" : "PUBLISH"; }
  void flush_subscriptions();
  void read_subscriptions();
  void on_sub_reply(size_t node, redisReply* r);
  void on_room_payload(const std::string& name, Room& room, std::string_view payload);
  void sync_room(const std::string& name);
  void offer(const std::string& name, Room& room, proto::ChatMessage&& msg);
  void advance(const std::string& name, Room& room);
  bool fill_gap(const std::string& name, Room& room, int64_t upto);
  // A sync that could not read what it needs: the room is left unsynced and synced again later
  // (Redis Cluster: with the next map read; one Redis: a reconnect), never marked synced past
  // ids it did not deliver.
  void abandon_sync(const std::string& name, Room& room);
  void release_acks(Room& room, bool all);
  void fail_acks(Room& room);  // Redis went away before their delivery: error, never a false ok
  void tick(int64_t now_ms);
  void check_nodes();
  void connect();
  void load_script();
  void republish_own_presence();
  ReplyPtr raise_sequence(const std::string& room, int64_t floor);
  void append_raise(const std::string& room, int64_t floor);  // pipelined, reply ignored
  void place_canaries(int64_t now);
  void check_canaries(int64_t now);
  bool canary_lost(size_t node, bool hold);
  void on_data_lost(size_t node, int64_t now);
  void restore_floors(size_t node);
  void start_store_floors(size_t node, int64_t now);
  void ask_store_floors();
  bool drain_floor_replies();
  void on_store_floors(StoreRoomFloorsDone& done);
  void keep_floor_holds(int64_t now);
  void purge_stale_self();
  void purge_stale_self_on(size_t node);
  void purge_stale_room(const std::string& room);
  void go_down(const char* where);
  // cluster_link_masters.cpp: one master at a time (Redis Cluster); one Redis: go_down.
  void lose(size_t node, const char* where);
  void master_down(size_t node, const char* where);
  void forget_subscription(Room& room);
  void schedule_refresh();
  void refresh_map(int64_t now);
  void after_refresh(int64_t now);
  size_t resubscribe_moved();
  void subscribe_control();
  void size_per_master();
  ReplyPtr command(const std::vector<std::string>& argv);  // on the master of argv's key
  ReplyPtr command_on(size_t node, const std::vector<std::string>& argv);
  // Pipelined on the master of argv's key, reply ignored; returns that master.
  size_t append(const std::vector<std::string>& argv);
  void to_owner(const std::string& room, ShardMessage&& m);
  void flush_outboxes();

  const ServerConfig& config_;
  unsigned shards_;
  cluster::RedisRouter router_;
  cluster::Keys keys_;
  std::string node_;
  ClusterStatus& status_;
  std::string script_sha_;  // SCRIPT LOAD on every connect: EVALSHA sends 40 bytes, not the body
  core::Doorbell doorbell_;
  std::vector<std::unique_ptr<core::Mailbox<ShardMessage>>> inboxes_;
  std::vector<std::unique_ptr<core::Outbox<ShardMessage>>> outboxes_;
  std::unique_ptr<core::Mailbox<StoreRoomFloorsDone>> floors_replies_;
  std::unique_ptr<core::Outbox<StoreRoomFloors>> to_storage_;  // null: not wired (unit tests)
  FloorPass floors_;

  bool up_ = false;
  bool sub_dirty_ = false;  // SUBSCRIBE/UNSUBSCRIBE appended to sub_, not yet written
  int64_t reconnect_at_ms_ = 0;
  int64_t backoff_ms_ = 100;
  int64_t grace_until_ms_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  int64_t next_node_check_ms_ = 0;
  bool logged_down_ = false;
  bool connected_once_ = false;

  std::unordered_map<std::string, Room> rooms_;
  // This node's presence, mirrored so it can be rewritten after Redis comes back: room -> field
  // -> value.
  std::unordered_map<std::string, std::map<std::string, std::string>> own_presence_;
  std::set<std::string> known_nodes_;
  std::vector<Pending> pipeline_;
  std::vector<ClusterPublish> publishes_;
  // Redis Cluster: per master, publishes whose script ran this turn and whose WAIT (a replica
  // has them) has not answered yet (indices into publishes_), and whether a WAIT is due.
  std::vector<std::vector<size_t>> unconfirmed_;
  std::vector<bool> wait_due_;
  // Per master: until when its publishes are refused at once, because its last WAIT found no
  // replica (so a master without one does not block the link for the WAIT timeout every turn).
  std::vector<int64_t> no_replica_until_ms_;
  bool map_stale_ = false;    // a MOVED or CLUSTERDOWN came back: refresh after this pipeline
  bool refresh_due_ = false;  // the slot map is to be read again (a master lost, a MOVED)
  int64_t refresh_at_ms_ = 0;
  int64_t refresh_backoff_ms_ = 100;
  int64_t last_refresh_ms_ = 0;
  size_t control_node_ = kNoMaster;  // the master whose pub/sub connection has rtchat:ctl
  // (master, room) -> our SUNSUBSCRIBEs whose confirmation has not come back: only a
  // `sunsubscribe` beyond these is Redis's own (the slot moved). Bounded by the rooms left or
  // moved during one round trip; a lost master's entries go with it.
  std::map<std::pair<size_t, std::string>, uint32_t> own_unsubscribes_;
  std::vector<std::string> canaries_;  // per master: a key whose loss means the data went
  std::vector<std::string> holds_;     // per master: while it lives, the publish script refuses
  // A publish found this node's canary gone, or another node said it found a loss: check the
  // canaries now rather than at the next heartbeat.
  bool canary_check_due_ = false;
  // How long a master's publishes are refused after a node found its data gone: the other nodes
  // raise their rooms' sequences when told on the control channel (milliseconds), at the latest
  // at their next heartbeat (1 s). Kept alive while a node's store pass runs, up to
  // kMaxFloorHoldMs.
  static constexpr int64_t kLossHoldMs = 2000;
  static constexpr int64_t kMaxFloorHoldMs = 10000;
  // Liveness keys vanish with the data: no node is declared dead for this long after.
  static constexpr int64_t kDataLossGraceMs = 3500;
  // A dead node's liveness key expires <= 3 s after its last beat (one beat a second).
  static constexpr int64_t kLivenessTtlMs = 3000;
  std::jthread thread_;
};

}  // namespace rtchat::server
