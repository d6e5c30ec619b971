#include "server/cluster/cluster_link.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/clock.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/cluster/redis_url.h"
#include "server/log.h"
#include "server/messages/room_messages.h"

namespace rtchat::server {
namespace {

constexpr size_t kMailboxCapacity = 16384;
constexpr size_t kMaxDrain = 4096;        // messages taken per loop turn (one pipeline)
constexpr int64_t kHeartbeatMs = 1000;    // liveness refresh
constexpr int64_t kLivenessTtlMs = 3000;  // a dead node's key expires <= 3 s after its last beat
constexpr int64_t kNodeCheckMs = 1000;    // so a death is seen <= 4 s after the last beat
constexpr int64_t kGraceMs = 3500;        // after reconnecting, others may not have beaten yet
constexpr int64_t kGapWaitMs = 20;        // a hole in the ids: wait for pub/sub, then XRANGE
constexpr int64_t kMaxBackoffMs = 2000;
constexpr long kStreamMaxLen = 100000;  // per room, approximate (MAXLEN ~): the shared history
constexpr int kFillCount = 10000;       // ids fetched per XRANGE when filling a gap

// KEYS: seq, log, channel. ARGV: floor id, maxlen, user_id, user, body, ts, payload tail.
// The three writes are one atomic step, so the order of ids, the stream and the channel agree.
// A reset counter (Redis lost its data, or a new room) never goes below the stream's last id or
// the publisher's floor, so an id is never handed out twice.
constexpr const char* kPublishScript = R"lua(
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
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'u', ARGV[3], 'n', ARGV[4],
           'b', ARGV[5], 't', ARGV[6])
local ids = tostring(id)
redis.call('PUBLISH', KEYS[3], 'm' .. #ids .. ':' .. ids .. ARGV[7])
return id
)lua";

std::string to_string(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

ClusterLink::ClusterLink(const ServerConfig& config, unsigned shards, ClusterStatus& status)
    : config_(config), shards_(shards), node_(config.node_id), status_(status) {
  if (!parse_redis_url(config.cluster_url, host_, port_)) {
    throw std::runtime_error("bad --cluster URL (redis://HOST:PORT expected): " +
                             config.cluster_url);
  }
  for (unsigned i = 0; i < shards; ++i) {
    inboxes_.push_back(std::make_unique<core::Mailbox<ShardMessage>>(kMailboxCapacity, doorbell_));
  }
  outboxes_.resize(shards);
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
    if (up_ && script_sha_.empty()) load_script();
    bool worked = drain_inboxes();
    flush_pipeline();
    flush_subscriptions();
    // Every turn, not only when idle: under a steady stream of publishes the deliveries (and
    // so the oks waiting for them) must not wait for a quiet moment.
    if (up_) read_subscriptions();
    if (up_) tick(now);
    flush_outboxes();
    if (stop.stop_requested() && !worked) {
      // The shards are gone and their last leaves are published: say goodbye.
      if (up_) {
        // Metas whose leave the shards could not send any more (an owner shard stopped first).
        for (auto& [room, fields] : own_presence_) {
          if (fields.empty()) continue;
          std::vector<std::string> argv{"HDEL", cluster::presence_key(room)};
          std::vector<ClusterMeta> leaves;
          for (auto& [f, v] : fields) {
            argv.push_back(f);
            ClusterMeta m;
            if (cluster::parse_presence_entry(f, v, m)) leaves.push_back(std::move(m));
          }
          append(argv);
          append({"PUBLISH", cluster::channel_key(room),
                  cluster::presence_payload(node_, {}, leaves)});
        }
        append({"DEL", cluster::node_key(node_)});
        flush_pipeline();
      }
      break;
    }
    if (worked) continue;

    bool backlog = false;
    for (auto& o : outboxes_) backlog |= o->backlog() > 0;
    bool gaps = false;
    for (auto& [name, room] : rooms_) gaps |= !room.pending.empty();
    int timeout = 100;
    if (!up_) timeout = static_cast<int>(std::clamp<int64_t>(reconnect_at_ms_ - now, 1, 100));
    if (gaps) timeout = static_cast<int>(kGapWaitMs / 2);
    if (backlog) timeout = 1;

    doorbell_.sleep_unless_pending(
        [&] {
          bool empty = !stop.stop_requested();
          for (auto& in : inboxes_) empty &= in->size_approx() == 0;
          return empty;
        },
        [&] {
          // Woken by a shard (doorbell) or by Redis (a pub/sub message on the subscriber).
          pollfd fds[2] = {{doorbell_.fd(), POLLIN, 0}, {up_ ? sub_->fd : -1, POLLIN, 0}};
          ::poll(fds, 2, timeout);
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
  if (auto* p = std::get_if<ClusterPublish>(&message)) {
    if (!up_) {
      to_owner(p->origin.room,
               ClusterPublishDone{std::move(p->origin), false, 0, "cluster unavailable"});
      return;
    }
    const auto& msg = p->message;
    std::vector<std::string> argv{"EVALSHA",
                                  script_sha_,
                                  "3",
                                  cluster::seq_key(msg.room),
                                  cluster::log_key(msg.room),
                                  cluster::channel_key(msg.room),
                                  to_string(p->floor_id),
                                  to_string(kStreamMaxLen),
                                  msg.user_id,
                                  msg.user,
                                  msg.body,
                                  to_string(msg.ts),
                                  cluster::message_tail(msg)};
    append(argv);
    pipeline_.back() = Pending{true, publishes_.size()};
    publishes_.push_back(std::move(*p));
  } else if (auto* w = std::get_if<ClusterWatch>(&message)) {
    Room& room = rooms_[w->room];
    if (w->watch) {
      room.wanted = true;
      if (up_) {
        const std::string ch = cluster::channel_key(w->room);
        const char* argv[] = {"SUBSCRIBE", ch.c_str()};
        size_t lens[] = {9, ch.size()};
        redisAppendCommandArgv(sub_.get(), 2, argv, lens);
        sub_dirty_ = true;
      } else {
        to_owner(w->room, ClusterRoomSynced{w->room, false, 0, {}});
      }
    } else {
      room.wanted = false;
      room.subscribed = false;
      room.last_delivered = -1;
      room.pending.clear();
      // No member here any more (the publisher left too): nothing of this room is delivered on
      // this node again, and the messages are stored, so their oks go now.
      release_acks(room, true);
      if (up_) {
        const std::string ch = cluster::channel_key(w->room);
        const char* argv[] = {"UNSUBSCRIBE", ch.c_str()};
        size_t lens[] = {11, ch.size()};
        redisAppendCommandArgv(sub_.get(), 2, argv, lens);
        sub_dirty_ = true;
      }
      rooms_.erase(w->room);
    }
  } else if (auto* t = std::get_if<Typing>(&message)) {
    // Ephemeral: not stored, dropped while Redis is away.
    if (up_) {
      append({"PUBLISH", cluster::channel_key(t->room),
              cluster::typing_payload(node_, t->user_id, t->user_name)});
    }
  } else if (auto* po = std::get_if<ClusterPresenceOut>(&message)) {
    auto& mine = own_presence_[po->room];
    std::vector<std::string> del{"HDEL", cluster::presence_key(po->room)};
    std::vector<std::string> set{"HSET", cluster::presence_key(po->room)};
    for (const auto& m : po->leaves) {
      auto f = cluster::presence_field(node_, m.meta.phx_ref);
      mine.erase(f);
      del.push_back(std::move(f));
    }
    for (const auto& m : po->joins) {
      auto f = cluster::presence_field(node_, m.meta.phx_ref);
      auto v = cluster::presence_value(m);
      mine[f] = v;
      set.push_back(std::move(f));
      set.push_back(std::move(v));
    }
    if (mine.empty()) own_presence_.erase(po->room);
    if (!up_) return;  // rewritten from own_presence_ when Redis is back
    if (del.size() > 2) append(del);
    if (set.size() > 2) append(set);
    append({"PUBLISH", cluster::channel_key(po->room),
            cluster::presence_payload(node_, po->joins, po->leaves)});
  }
}

void ClusterLink::append(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(cmd_.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data());
  pipeline_.push_back(Pending{});
}

// Sends every command appended this turn in one write and reads the replies in order.
void ClusterLink::flush_pipeline() {
  size_t i = 0;
  for (; up_ && i < pipeline_.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(cmd_.get(), &raw) != REDIS_OK) {
      LOG_WARN("cluster_pipeline_failed", "reply=%zu of=%zu", i, pipeline_.size());
      go_down("pipeline");
      break;
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (!pipeline_[i].is_publish) {
      if (reply->type == REDIS_REPLY_ERROR) {
        LOG_WARN("cluster_command_failed", "error=\"%.*s\"", static_cast<int>(reply->len),
                 reply->str);
      }
      continue;
    }
    ClusterPublish& p = publishes_[pipeline_[i].publish];
    if (reply->type == REDIS_REPLY_ERROR && reply_text(reply.get()).starts_with("NOSCRIPT")) {
      script_sha_.clear();  // flushed behind our back: loaded again on the next turn
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
      LOG_WARN("cluster_publish_failed", "room=%s error=\"%.*s\"", p.message.room.c_str(),
               static_cast<int>(reply_text(reply.get()).size()), reply_text(reply.get()).data());
      to_owner(p.origin.room, ClusterPublishDone{std::move(p.origin), false, 0, "cluster error"});
      continue;
    }
    int64_t id = reply->integer;
    std::string room_name = p.message.room;
    ClusterPublishDone done{std::move(p.origin), true, id, {}};
    auto it = rooms_.find(room_name);
    if (it == rooms_.end()) {
      to_owner(room_name, std::move(done));  // no member here any more: nobody to deliver to
      continue;
    }
    Room& room = it->second;
    p.message.id = id;
    room.acks.emplace(id, std::move(done));
    offer(room_name, room, std::move(p.message));
  }
  // Commands whose reply never came (Redis went away): their outcome is unknown. A publish is
  // answered with an error; if its script ran, the message still reaches everybody after the
  // resync, and the client's retry makes at worst a duplicate, never a loss.
  for (; i < pipeline_.size(); ++i) {
    if (!pipeline_[i].is_publish) continue;
    ClusterPublish& p = publishes_[pipeline_[i].publish];
    to_owner(p.origin.room,
             ClusterPublishDone{std::move(p.origin), false, 0, "cluster unavailable"});
  }
  pipeline_.clear();
  publishes_.clear();
}

void ClusterLink::flush_subscriptions() {
  if (!up_ || !sub_dirty_) return;
  sub_dirty_ = false;
  int done = 0;
  while (!done) {
    if (redisBufferWrite(sub_.get(), &done) != REDIS_OK) {
      go_down("subscribe");
      return;
    }
  }
}

void ClusterLink::read_subscriptions() {
  pollfd p{sub_->fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) return;
  if (redisBufferRead(sub_.get()) != REDIS_OK) {
    go_down("subscription read");
    return;
  }
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(sub_.get(), &raw) != REDIS_OK) {
      go_down("subscription parse");
      return;
    }
    if (!raw) break;
    ReplyPtr reply(static_cast<redisReply*>(raw));
    on_sub_reply(reply.get());
    if (!up_) return;
  }
}

void ClusterLink::on_sub_reply(redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  auto kind = reply_text(r->element[0]);
  auto channel = reply_text(r->element[1]);
  if (!channel.starts_with(cluster::kChannelPrefix)) return;
  std::string name(channel.substr(cluster::kChannelPrefix.size()));
  if (kind == "subscribe") {
    sync_room(name);
    return;
  }
  if (kind != "message") return;
  auto it = rooms_.find(name);
  if (it == rooms_.end() || !it->second.subscribed) return;  // the sync reads what this says
  auto payload = reply_text(r->element[2]);
  if (payload.starts_with("m")) {
    proto::ChatMessage msg;
    if (!cluster::parse_message(payload, name, msg)) {
      LOG_WARN("cluster_bad_payload", "room=%s", name.c_str());
      return;
    }
    offer(name, it->second, std::move(msg));
  } else if (payload.starts_with("p")) {
    ClusterPresenceIn in{name, {}, {}};
    std::string node;
    if (!cluster::parse_presence(payload, in.joins, in.leaves, node)) {
      LOG_WARN("cluster_bad_payload", "room=%s", name.c_str());
      return;
    }
    if (node == node_) return;
    known_nodes_.insert(node);
    to_owner(name, std::move(in));
  } else if (payload.starts_with("t")) {
    Typing t;
    std::string node;
    if (!cluster::parse_typing(payload, node, t.user_id, t.user_name) || node == node_) return;
    t.room = name;
    t.conn.shard = kRemoteNodeShard;
    to_owner(name, std::move(t));
  }
}

// Right after SUBSCRIBE is confirmed: everything published from now on reaches us, so the
// sequence read now is the room's baseline and the hash read now is the other nodes' presence
// (published changes that raced with the read are applied again, idempotently, by phx_ref).
void ClusterLink::sync_room(const std::string& name) {
  auto it = rooms_.find(name);
  if (it == rooms_.end() || !it->second.wanted) return;
  Room& room = it->second;
  ReplyPtr seq = command({"GET", cluster::seq_key(name)});
  ReplyPtr hash = command({"HGETALL", cluster::presence_key(name)});
  if (!seq || !hash) return;
  int64_t last_id = reply_int(seq.get());
  std::vector<ClusterMeta> remote;
  std::set<std::string> nodes;
  if (hash->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
      ClusterMeta m;
      if (!cluster::parse_presence_entry(reply_text(hash->element[i]),
                                         reply_text(hash->element[i + 1]), m)) {
        continue;
      }
      if (m.node == node_) continue;
      nodes.insert(m.node);
      remote.push_back(std::move(m));
    }
  }
  if (core::mono_millis() >= grace_until_ms_) {
    // Metas of nodes that are gone (killed before anybody noticed) are not shown.
    for (const auto& n : nodes) {
      ReplyPtr alive = command({"EXISTS", cluster::node_key(n)});
      if (!alive) return;
      if (reply_int(alive.get()) != 0) continue;
      std::vector<std::string> del{"HDEL", cluster::presence_key(name)};
      for (const auto& m : remote) {
        if (m.node == n) del.push_back(cluster::presence_field(n, m.meta.phx_ref));
      }
      command(del);
      std::erase_if(remote, [&](const ClusterMeta& m) { return m.node == n; });
    }
  }
  for (const auto& m : remote) known_nodes_.insert(m.node);
  // Publishes that Redis ordered while the room was being resubscribed: deliver from the first.
  if (room.last_delivered < 0 && !room.pending.empty()) {
    room.last_delivered = room.pending.begin()->first - 1;
  }
  if (room.last_delivered >= 0 && room.last_delivered < last_id) {
    fill_gap(name, room, last_id);  // resync after Redis was away: what this node missed
    if (!up_) return;
  }
  room.last_delivered = std::max(room.last_delivered, last_id);
  room.subscribed = true;
  to_owner(name, ClusterRoomSynced{name, true, last_id, std::move(remote)});
  advance(name, room);
}

void ClusterLink::offer(const std::string& name, Room& room, proto::ChatMessage&& msg) {
  if (msg.id <= room.last_delivered) return;  // already delivered: each id once
  room.pending.try_emplace(msg.id, std::move(msg));
  advance(name, room);
}

void ClusterLink::advance(const std::string& name, Room& room) {
  while (!room.pending.empty()) {
    auto first = room.pending.begin();
    if (first->first <= room.last_delivered) {
      room.pending.erase(first);
      continue;
    }
    if (first->first != room.last_delivered + 1) break;
    room.last_delivered = first->first;
    to_owner(name, ClusterDeliver{std::move(first->second)});
    room.pending.erase(first);
  }
  release_acks(room, false);
  if (room.pending.empty()) {
    room.gap_since_ms = 0;
  } else if (room.gap_since_ms == 0) {
    room.gap_since_ms = core::mono_millis();
  }
}

// The stream is the order: everything after last_delivered is delivered as stored, and ids that
// the stream does not have (a failed script, trimmed history) are skipped.
void ClusterLink::fill_gap(const std::string& name, Room& room, int64_t upto) {
  std::string from = to_string(room.last_delivered + 1) + "-0";
  std::string to = upto > 0 ? to_string(upto) + "-0" : "+";
  ReplyPtr r =
      command({"XRANGE", cluster::log_key(name), from, to, "COUNT", to_string(kFillCount)});
  if (!r || r->type != REDIS_REPLY_ARRAY) return;
  for (size_t i = 0; i < r->elements; ++i) {
    proto::ChatMessage msg;
    if (!parse_stream_entry(r->element[i], name, msg) || msg.id <= room.last_delivered) continue;
    room.pending.erase(msg.id);
    room.last_delivered = msg.id;
    to_owner(name, ClusterDeliver{std::move(msg)});
  }
  if (upto <= 0 && !room.pending.empty()) {
    // What pub/sub announced is in the stream before its announcement: a hole left here is an
    // id that was never stored. Move past it.
    LOG_WARN("cluster_gap_skipped", "room=%s after=%lld next=%lld", name.c_str(),
             static_cast<long long>(room.last_delivered),
             static_cast<long long>(room.pending.begin()->first));
    room.last_delivered = room.pending.begin()->first - 1;
  }
  room.gap_since_ms = 0;
  advance(name, room);
}

void ClusterLink::fail_acks(Room& room) {
  for (auto& [id, done] : room.acks) {
    std::string r = done.origin.room;
    to_owner(r, ClusterPublishDone{std::move(done.origin), false, 0, "cluster unavailable"});
  }
  room.acks.clear();
}

void ClusterLink::release_acks(Room& room, bool all) {
  while (!room.acks.empty() && (all || room.acks.begin()->first <= room.last_delivered)) {
    ClusterPublishDone done = std::move(room.acks.begin()->second);
    room.acks.erase(room.acks.begin());
    std::string r = done.origin.room;
    to_owner(r, std::move(done));
  }
}

// ---------------------------------------------------------------- timers

void ClusterLink::tick(int64_t now) {
  if (now >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now + kHeartbeatMs;
    ReplyPtr r =
        command({"SET", cluster::node_key(node_), "1", "PX", to_string(kLivenessTtlMs), "GET"});
    if (!r) return;
    if (r->type == REDIS_REPLY_NIL) {
      // Our key had expired (this thread stalled > 3 s): the others may have announced our
      // metas as gone and deleted them. Say them again.
      LOG_WARN("cluster_liveness_lapsed", "node=%s", node_.c_str());
      republish_own_presence();
      flush_pipeline();
    }
  }
  if (!up_) return;
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

void ClusterLink::check_nodes() {
  std::vector<std::string> dead;
  for (const auto& n : known_nodes_) {
    ReplyPtr r = command({"EXISTS", cluster::node_key(n)});
    if (!r) return;
    if (reply_int(r.get()) == 0) dead.push_back(n);
  }
  for (const auto& n : dead) {
    known_nodes_.erase(n);
    LOG_WARN("cluster_node_down", "node=%s", n.c_str());
    for (auto& o : outboxes_) o->send(ClusterNodeDown{n});
    // Tidy its metas in Redis so that later syncs do not see them (any node may do it).
    std::string prefix = n + "|";
    for (auto& [name, room] : rooms_) {
      ReplyPtr keys = command({"HKEYS", cluster::presence_key(name)});
      if (!keys) return;
      std::vector<std::string> argv{"HDEL", cluster::presence_key(name)};
      for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; ++i) {
        auto f = reply_text(keys->element[i]);
        if (f.starts_with(prefix)) argv.emplace_back(f);
      }
      if (argv.size() > 2) command(argv);
    }
  }
}

// ---------------------------------------------------------------- connection

ClusterLink::ReplyPtr ClusterLink::command(const std::vector<std::string>& argv) {
  if (!up_) return nullptr;
  flush_pipeline();  // replies come back in order: earlier pipelined commands first
  if (!up_) return nullptr;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  void* raw = redisCommandArgv(cmd_.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (!raw) {
    go_down("command");
    return nullptr;
  }
  return ReplyPtr(static_cast<redisReply*>(raw));
}

void ClusterLink::connect() {
  timeval connect_timeout{0, 500 * 1000};
  // A Redis that does not answer for 5 s counts as down. Shorter misfires on a loaded machine
  // (a starved Redis is slow, not gone), and every misfire costs clients "cluster unavailable".
  timeval io_timeout{5, 0};
  ContextPtr cmd(redisConnectWithTimeout(host_.c_str(), port_, connect_timeout));
  ContextPtr sub(cmd && !cmd->err ? redisConnectWithTimeout(host_.c_str(), port_, connect_timeout)
                                  : nullptr);
  if (!cmd || cmd->err || !sub || sub->err) {
    if (!logged_down_) {
      LOG_ERROR("cluster_link_down", "redis=%s:%d error=\"%s\" retry=backoff", host_.c_str(), port_,
                cmd && cmd->err ? cmd->errstr : (sub ? sub->errstr : "no context"));
      logged_down_ = true;
    }
    reconnect_at_ms_ = core::mono_millis() + backoff_ms_;
    backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
    return;
  }
  redisSetTimeout(cmd.get(), io_timeout);
  redisSetTimeout(sub.get(), io_timeout);
  redisEnableKeepAlive(cmd.get());
  redisEnableKeepAlive(sub.get());
  cmd_ = std::move(cmd);
  sub_ = std::move(sub);
  up_ = true;
  backoff_ms_ = 100;
  int64_t now = core::mono_millis();
  grace_until_ms_ = now + kGraceMs;
  next_heartbeat_ms_ = now;
  next_node_check_ms_ = now + kNodeCheckMs;
  // Liveness first, then this node's presence (Redis may have lost it, or others may have
  // deleted it while we were away), then every wanted room again.
  load_script();
  if (!up_) return;
  append({"SET", cluster::node_key(node_), "1", "PX", to_string(kLivenessTtlMs)});
  republish_own_presence();
  flush_pipeline();
  if (!up_) return;
  if (!connected_once_) {
    purge_stale_self();
    if (!up_) return;
    connected_once_ = true;
    grace_until_ms_ = 0;  // a first start trusts the liveness keys it finds
  }
  for (auto& [name, room] : rooms_) {
    room.subscribed = false;
    if (!room.wanted) continue;
    const std::string ch = cluster::channel_key(name);
    const char* argv[] = {"SUBSCRIBE", ch.c_str()};
    size_t lens[] = {9, ch.size()};
    redisAppendCommandArgv(sub_.get(), 2, argv, lens);
    sub_dirty_ = true;
  }
  flush_subscriptions();
  if (!up_) return;
  status_.set(ClusterHealth::Up);
  LOG_INFO("cluster_link_up", "redis=%s:%d node=%s rooms=%zu", host_.c_str(), port_, node_.c_str(),
           rooms_.size());
  logged_down_ = false;
}

void ClusterLink::load_script() {
  ReplyPtr r = command({"SCRIPT", "LOAD", kPublishScript});
  if (r && r->type == REDIS_REPLY_STRING) {
    script_sha_ = std::string(reply_text(r.get()));
  } else if (r) {
    go_down("script load");
  }
}

void ClusterLink::republish_own_presence() {
  for (auto& [room, fields] : own_presence_) {
    if (fields.empty()) continue;
    std::vector<std::string> set{"HSET", cluster::presence_key(room)};
    std::vector<ClusterMeta> joins;
    for (auto& [f, v] : fields) {
      set.push_back(f);
      set.push_back(v);
      ClusterMeta m;
      if (cluster::parse_presence_entry(f, v, m)) joins.push_back(std::move(m));
    }
    append(set);
    append({"PUBLISH", cluster::channel_key(room), cluster::presence_payload(node_, joins, {})});
  }
}

// A restarted node that kept its --node-id: the metas its previous process left in Redis are
// removed and announced as leaves (its liveness key never lapsed, so nobody else would).
void ClusterLink::purge_stale_self() {
  std::string prefix = node_ + "|";
  std::string cursor = "0";
  int rounds = 0;
  do {
    ReplyPtr scan = command({"SCAN", cursor, "MATCH", "rtchat:pres:*", "COUNT", "1000"});
    if (!scan || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) return;
    cursor = std::string(reply_text(scan->element[0]));
    const redisReply* keys = scan->element[1];
    for (size_t k = 0; keys && keys->type == REDIS_REPLY_ARRAY && k < keys->elements; ++k) {
      std::string key(reply_text(keys->element[k]));
      ReplyPtr hash = command({"HGETALL", key});
      if (!hash || hash->type != REDIS_REPLY_ARRAY) return;
      std::vector<std::string> del{"HDEL", key};
      std::vector<ClusterMeta> leaves;
      for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        auto f = reply_text(hash->element[i]);
        ClusterMeta m;
        if (!f.starts_with(prefix)) continue;
        del.emplace_back(f);
        if (cluster::parse_presence_entry(f, reply_text(hash->element[i + 1]), m)) {
          leaves.push_back(std::move(m));
        }
      }
      if (del.size() == 2) continue;
      std::string room = key.substr(std::string_view("rtchat:pres:").size());
      command(del);
      command(
          {"PUBLISH", cluster::channel_key(room), cluster::presence_payload(node_, {}, leaves)});
    }
  } while (cursor != "0" && ++rounds < 100000);
}

void ClusterLink::go_down(const char* where) {
  if (!up_) return;
  const char* err = cmd_ && cmd_->err ? cmd_->errstr : (sub_ && sub_->err ? sub_->errstr : "");
  LOG_ERROR("cluster_link_down", "redis=%s:%d where=%s error=\"%s\" retry=backoff", host_.c_str(),
            port_, where, err);
  logged_down_ = true;
  up_ = false;
  sub_dirty_ = false;
  status_.set(ClusterHealth::Down);
  cmd_.reset();
  sub_.reset();
  for (auto& [name, room] : rooms_) {
    if (room.wanted && room.last_delivered < 0) {
      // Its first sync will not come soon: the joins waiting for it go ahead, local-only.
      to_owner(name, ClusterRoomSynced{name, false, 0, {}});
    }
    room.subscribed = false;
    room.pending.clear();  // the resync reads them from the stream
    room.gap_since_ms = 0;
    // Stored (their script returned) but not delivered here yet, and the delivery now waits for
    // a resync of unknown date: an ok now could reach the sender before its message, so they get
    // the error. The message still appears after the resync; a retry can duplicate, never lose.
    fail_acks(room);
  }
  reconnect_at_ms_ = core::mono_millis() + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

}  // namespace rtchat::server
