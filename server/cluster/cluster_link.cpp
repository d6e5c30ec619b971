#include "server/cluster/cluster_link.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/clock.h"
#include "core/overloaded.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {
namespace {

constexpr size_t kMailboxCapacity = 16384;
constexpr size_t kMaxDrain = 4096;      // messages taken per loop turn (one pipeline)
constexpr int64_t kHeartbeatMs = 1000;  // liveness refresh
constexpr int64_t kNodeCheckMs = 1000;  // so a death is seen <= 4 s after the last beat
constexpr int64_t kGraceMs = 3500;      // after reconnecting, others may not have beaten yet
constexpr int64_t kGapWaitMs = 20;      // a hole in the ids: wait for pub/sub, then XRANGE
constexpr int64_t kMaxBackoffMs = 2000;
// A Redis Cluster master lost is replaced by its replica in about --cluster-node-timeout plus a
// second; retrying the map at most every 400 ms finds the new master soon after, and a map read
// costs one CLUSTER SLOTS on a live node.
constexpr int64_t kMaxClusterBackoffMs = 400;

// KEYS: seq, log, channel (one Redis only). ARGV: floor id, maxlen, user_id, user, body, ts,
// payload tail, publish ('1': PUBLISH here; '0' on a Redis Cluster, where the link SPUBLISHes after
// WAIT), the target of a delete event ('0' for a message: no 'd' field; moderation), this node's
// canary on the master and the master's hold key (cluster_link_loss.cpp). The three writes are one
// atomic step, so the order of ids, the stream and the channel agree. A reset counter (Redis lost
// its data, or a new room) never goes below the stream's last id or the publisher's floor. And
// nothing is ordered on a master that lost its data (the canary is gone) or whose sequences are
// being raised back by the nodes that had its rooms (the hold): a node new to a room, whose floor
// is 0, could otherwise get an id that others delivered.
constexpr const char* kPublishScript = R"lua(
if redis.call('EXISTS', ARGV[10]) == 0 then
  return redis.error_reply('RTCHAT_DATALOSS this node\'s canary is gone: the master lost data')
end
if redis.call('EXISTS', ARGV[11]) == 1 then
  return redis.error_reply('RTCHAT_HOLD sequences are being raised after a data loss')
end
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if id == 1 then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local l = tonumber(string.match(last[1][1], '^(%d+)'))
    if l >= floor then floor = l end
  end
end
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], id)
end
if ARGV[9] == '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'u', ARGV[3], 'n', ARGV[4],
             'b', ARGV[5], 't', ARGV[6])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'u', ARGV[3], 'n', ARGV[4],
             'b', ARGV[5], 't', ARGV[6], 'd', ARGV[9])
end
local ids = tostring(id)
if ARGV[8] == '1' then
  redis.call('PUBLISH', KEYS[3], 'm' .. #ids .. ':' .. ids .. ARGV[7])
end
return id
)lua";

// On a Redis Cluster the canary and hold keys are in another slot than the room's keys (one slot
// per master: cluster_link_loss.cpp), on the same master. Redis 7.0 lets a script touch such keys
// only with this flag (and only keys of its own node: a map gone stale fails the script, and the
// link reconnects). Declared KEYS must still share one slot, so the two are passed as ARGV.
std::string publish_script(bool redis_cluster) {
  std::string body = kPublishScript;
  return redis_cluster ? "#!lua flags=allow-cross-slot-keys\n" + body : body;
}

std::string to_string(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

cluster::RedisRouter make_router(const std::string& url) {
  std::vector<cluster::RedisAddress> seeds;
  bool redis_cluster = false;
  if (!cluster::parse_backend_url(url, seeds, redis_cluster)) {
    throw std::runtime_error(
        "bad --cluster URL (redis://HOST:PORT or redis-cluster://HOST:PORT[,HOST:PORT...] "
        "expected): " +
        url);
  }
  cluster::RedisRouter::Options options;
  // A Redis that does not answer for 5 s counts as down. Shorter misfires on a loaded machine
  // (a starved Redis is slow, not gone), and every misfire costs clients "cluster unavailable".
  options.io_timeout = timeval{5, 0};
  options.subscribers = true;
  return cluster::RedisRouter(std::move(seeds), redis_cluster, options);
}
}  // namespace

ClusterLink::ClusterLink(const ServerConfig& config, unsigned shards, ClusterStatus& status)
    : config_(config),
      shards_(shards),
      router_(make_router(config.cluster_url)),
      keys_(router_.cluster()),
      node_(config.node_id),
      status_(status) {
  for (unsigned i = 0; i < shards; ++i) {
    inboxes_.push_back(std::make_unique<core::Mailbox<ShardMessage>>(kMailboxCapacity, doorbell_));
  }
  outboxes_.resize(shards);
  floors_replies_ = std::make_unique<core::Mailbox<StoreRoomFloorsDone>>(4, doorbell_);
  status_.set(ClusterHealth::Down);
}

ClusterLink::~ClusterLink() { stop(); }

void ClusterLink::set_shard_mailbox(unsigned shard, core::Mailbox<ShardMessage>& mailbox) {
  outboxes_[shard] = std::make_unique<core::Outbox<ShardMessage>>(mailbox);
}

void ClusterLink::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void ClusterLink::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    doorbell_.signal();
    thread_.join();
  }
}

void ClusterLink::to_owner(const std::string& room, ShardMessage&& m) {
  outboxes_[owner_shard(room, shards_)]->send(std::move(m));
}

void ClusterLink::flush_outboxes() {
  for (auto& o : outboxes_) o->flush();
}

// ---------------------------------------------------------------- loop

void ClusterLink::run(std::stop_token stop) {
  connect();
  for (;;) {
    int64_t now = core::mono_millis();
    if (!up_ && now >= reconnect_at_ms_) connect();
    if (up_ && refresh_due_ && now >= refresh_at_ms_) refresh_map(now);
    if (up_ && script_sha_.empty()) load_script();
    bool worked = drain_inboxes();
    worked |= drain_floor_replies();  // its raises go out in this turn's pipeline
    flush_pipeline();
    flush_subscriptions();
    // Every turn, not only when idle: under a steady stream of publishes the deliveries (and
    // so the oks waiting for them) must not wait for a quiet moment.
    if (up_) read_subscriptions();
    if (up_) tick(now);
    flush_outboxes();
    if (stop.stop_requested() && !worked) {
      say_goodbye();  // the shards are gone and their last leaves are published
      break;
    }
    if (worked) continue;

    bool backlog = false;
    for (auto& o : outboxes_) backlog |= o->backlog() > 0;
    bool gaps = false;
    for (auto& [name, room] : rooms_) gaps |= !room.pending.empty();
    int timeout = 100;
    if (!up_) timeout = static_cast<int>(std::clamp<int64_t>(reconnect_at_ms_ - now, 1, 100));
    if (up_ && refresh_due_) {
      timeout = static_cast<int>(std::clamp<int64_t>(refresh_at_ms_ - now, 1, timeout));
    }
    if (gaps) timeout = static_cast<int>(kGapWaitMs / 2);
    if (backlog) timeout = 1;

    doorbell_.sleep_unless_pending(
        [&] {
          bool empty = !stop.stop_requested() && floors_replies_->size_approx() == 0;
          for (auto& in : inboxes_) empty &= in->size_approx() == 0;
          return empty;
        },
        [&] {
          // Woken by a shard (doorbell) or by Redis (a pub/sub message on the subscriber).
          std::vector<pollfd> fds{{doorbell_.fd(), POLLIN, 0}};
          for (size_t n = 0; up_ && n < router_.size(); ++n) {
            if (router_.up(n)) fds.push_back({router_.sub(n)->fd, POLLIN, 0});
          }
          ::poll(fds.data(), fds.size(), timeout);
          if (fds[0].revents & POLLIN) doorbell_.drain();
        });
  }
}

bool ClusterLink::drain_inboxes() {
  bool worked = false;
  ShardMessage m;
  size_t taken = 0;
  for (auto& in : inboxes_) {
    while (taken < kMaxDrain && in->try_pop(m)) {
      handle(std::move(m));
      ++taken;
      worked = true;
    }
  }
  return worked;
}

void ClusterLink::handle(ShardMessage&& message) {
  std::visit(
      core::Overloaded{
          [&](ClusterPublish& p) { on_publish(p); }, [&](ClusterWatch& w) { on_watch(w); },
          [&](Typing& t) { on_typing(t); }, [&](ClusterPresenceOut& po) { on_presence_out(po); },
          [&](ClusterReadState& rs) { on_read_state(rs); },
          [&](DisconnectUser& d) { on_disconnect(d); },
          [](auto&) {},  // link -> shard types: never sent to the link
      },
      message);
}

void ClusterLink::on_watch(ClusterWatch& w) {
  Room& room = rooms_[w.room];
  if (w.watch) {
    room.wanted = true;
    if (up_) subscribe(w.room, true);
    // Redis down, or the room's master lost (Redis Cluster): the joins go ahead local-only; the
    // room is synced once its master is back (connect or refresh_map).
    if (!up_ || room.master == kNoMaster) to_owner(w.room, ClusterRoomSynced{w.room, false, 0, {}});
  } else {
    room.wanted = false;
    room.subscribed = false;
    room.last_delivered = -1;
    room.pending.clear();
    // No member here any more (the publisher left too): nothing of this room is delivered on
    // this node again, and the messages are stored, so their oks go now.
    release_acks(room, true);
    if (up_) subscribe(w.room, false);
    rooms_.erase(w.room);
  }
}

// Server API: the other nodes close the user's sockets too (this node's shards already do). Plain
// PUBLISH: one Redis, or every node of a Redis Cluster (node-wide pub/sub is broadcast there).
void ClusterLink::tick(int64_t now) {
  if (now >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now + kHeartbeatMs;
    // Null when the key's master is down (Redis Cluster): the other checks below still run.
    ReplyPtr r = command({"SET", keys_.node(node_), "1", "PX", to_string(kLivenessTtlMs), "GET"});
    if (r && r->type == REDIS_REPLY_NIL) {
      // Our key had expired (this thread stalled > 3 s): the others may have announced our
      // metas as gone and deleted them. Say them again.
      LOG_WARN("cluster_liveness_lapsed", "node=%s", node_.c_str());
      republish_own_presence();
      flush_pipeline();
    }
    canary_check_due_ = true;
  }
  if (canary_check_due_ && up_) {
    canary_check_due_ = false;
    check_canaries(now);
  }
  if (!up_) return;
  keep_floor_holds(now);
  if (now >= next_node_check_ms_) {
    if (now >= grace_until_ms_) check_nodes();
    next_node_check_ms_ = now + kNodeCheckMs;
  }
  for (auto& [name, room] : rooms_) {
    if (!up_) return;
    if (room.subscribed && room.gap_since_ms && now - room.gap_since_ms >= kGapWaitMs) {
      fill_gap(name, room, 0);
    }
  }
}

// ---------------------------------------------------------------- connection

ClusterLink::ReplyPtr ClusterLink::command(const std::vector<std::string>& argv) {
  bool eval = argv[0] == "EVALSHA" || argv[0] == "EVAL";
  size_t key = eval ? 3 : 1;
  if (!up_) return nullptr;
  return command_on(router_.node_of(argv.size() > key ? argv[key] : argv[0]), argv);
}

// Null when the master is down or went down now, or when the map changed (then read again).
ClusterLink::ReplyPtr ClusterLink::command_on(size_t node, const std::vector<std::string>& argv) {
  if (!up_ || !router_.up(node)) return nullptr;
  flush_pipeline();  // replies come back in order: earlier pipelined commands first
  if (!up_ || !router_.up(node)) return nullptr;
  ReplyPtr r = router_.command_on(node, argv);
  if (!r) {
    lose(node, "command");
    return nullptr;
  }
  // An ASK still here was not followed: its target is not in our map (a new master).
  if (cluster::RedisRouter::says_map_changed(r.get()) || reply_text(r.get()).starts_with("ASK ")) {
    schedule_refresh();
    return nullptr;
  }
  return r;
}

void ClusterLink::connect() {
  if (!router_.connect()) {
    if (!logged_down_) {
      LOG_ERROR("cluster_link_down", "redis=%s error=\"%s\" retry=backoff",
                config_.cluster_url.c_str(), router_.error().c_str());
      logged_down_ = true;
    }
    reconnect_at_ms_ = core::mono_millis() + backoff_ms_;
    backoff_ms_ =
        std::min(backoff_ms_ * 2, router_.cluster() ? kMaxClusterBackoffMs : kMaxBackoffMs);
    return;
  }
  up_ = true;
  unconfirmed_.clear();
  wait_due_.clear();
  no_replica_until_ms_.clear();
  size_per_master();
  refresh_due_ = false;
  refresh_backoff_ms_ = 100;
  backoff_ms_ = 100;
  int64_t now = core::mono_millis();
  grace_until_ms_ = now + kGraceMs;
  next_heartbeat_ms_ = now;
  next_node_check_ms_ = now + kNodeCheckMs;
  // Liveness first, then this node's presence (Redis may have lost it, or others may have
  // deleted it while we were away), then every wanted room again.
  load_script();
  if (!up_) return;
  append({"SET", keys_.node(node_), "1", "PX", to_string(kLivenessTtlMs)});
  republish_own_presence();
  flush_pipeline();
  place_canaries(now);
  if (!up_) return;
  if (!connected_once_) {
    purge_stale_self();
    if (!up_) return;
    connected_once_ = true;
    grace_until_ms_ = 0;  // a first start trusts the liveness keys it finds
  }
  control_node_ = kNoMaster;
  subscribe_control();
  for (auto& [name, room] : rooms_) {
    room.subscribed = false;
    if (!room.wanted) continue;
    subscribe(name, true);
  }
  flush_subscriptions();
  if (!up_) return;
  status_.set(ClusterHealth::Up);
  LOG_INFO("cluster_link_up", "redis=%s masters=%zu node=%s rooms=%zu", config_.cluster_url.c_str(),
           router_.size(), node_.c_str(), rooms_.size());
  logged_down_ = false;
}

// On every master: a promoted replica or a flushed cache answers NOSCRIPT until then.
void ClusterLink::load_script() {
  for (size_t n = 0; up_ && n < router_.size(); ++n) {
    if (!router_.up(n)) continue;
    ReplyPtr r = command_on(n, {"SCRIPT", "LOAD", publish_script(router_.cluster())});
    if (r && r->type == REDIS_REPLY_STRING) {
      script_sha_ = std::string(reply_text(r.get()));
    } else if (r) {
      go_down("script load");
    }
  }
}

void ClusterLink::go_down(const char* where) {
  if (!up_) return;
  std::string err = router_.error();
  for (size_t n = 0; n < router_.size(); ++n) {
    if (!router_.up(n)) continue;
    if (router_.cmd(n)->err) err = router_.address(n).text() + ": " + router_.cmd(n)->errstr;
    if (router_.sub(n)->err) err = router_.address(n).text() + ": " + router_.sub(n)->errstr;
  }
  LOG_ERROR("cluster_link_down", "redis=%s where=%s error=\"%s\" retry=backoff",
            config_.cluster_url.c_str(), where, err.c_str());
  logged_down_ = true;
  up_ = false;
  sub_dirty_ = false;
  refresh_due_ = false;
  control_node_ = kNoMaster;
  own_unsubscribes_.clear();
  status_.set(ClusterHealth::Down);
  // Publishes in flight (script sent, reply or WAIT not read): unknown outcome, an error each.
  fail_unanswered(0);
  pipeline_.clear();
  publishes_.clear();
  router_.reset();
  for (auto& [name, room] : rooms_) {
    if (room.wanted && room.last_delivered < 0) {
      // Its first sync will not come soon: the joins waiting for it go ahead, local-only.
      to_owner(name, ClusterRoomSynced{name, false, 0, {}});
    }
    room.subscribed = false;
    room.master = kNoMaster;
    room.pending.clear();  // the resync reads them from the stream
    room.gap_since_ms = 0;
    // Stored (their script returned) but not delivered here yet, and the delivery now waits for
    // a resync of unknown date: an ok now could reach the sender before its message, so they get
    // the error. The message still appears after the resync; a retry can duplicate, never lose.
    fail_acks(room);
  }
  reconnect_at_ms_ = core::mono_millis() + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, router_.cluster() ? kMaxClusterBackoffMs : kMaxBackoffMs);
}

}  // namespace rtchat::server
