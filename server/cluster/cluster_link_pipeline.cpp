// The cluster link's pipelines (server/cluster/cluster_link.h): commands taken from the mailboxes
// in one loop turn go out in one write per master and their replies are read in order; on a Redis
// Cluster a publish is confirmed by WAIT before its ok and its fan-out. Also the pub/sub side:
// (S)SUBSCRIBE per room on the room's master and the messages that arrive there.
#include <hiredis/hiredis.h>
#include <poll.h>

#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

// How long a publish waits for a replica to have it (WAIT 1 <ms>). On loopback or a LAN a
// replica answers in well under a millisecond; 500 ms covers a loaded machine, and a master
// without a live replica (just after a failover, until the old master is back as a replica)
// costs each turn that publishes to it this long before its publishes are refused.
constexpr int kWaitReplicaMs = 500;
// After a WAIT found no replica, that master's publishes are refused at once for this long; then
// one turn's publishes try again (and wait once more).
constexpr int64_t kNoReplicaRetryMs = 1000;

bool map_changed(const redisReply* reply) { return cluster::RedisRouter::says_map_changed(reply); }

}  // namespace

size_t ClusterLink::append(const std::vector<std::string>& argv) {
  bool eval = argv[0] == "EVALSHA" || argv[0] == "EVAL";
  size_t key = eval ? 3 : 1;
  size_t node = router_.node_of(argv.size() > key ? argv[key] : argv[0]);
  // A master that is down: dropped (presence is written again when it is back; typing and read
  // marks are best effort). Publishes check first (on_publish).
  if (!router_.up(node)) return kNoMaster;
  cluster::append_argv(router_.cmd(node), argv);
  pipeline_.push_back(Pending{Pending::Kind::Other, 0, node});
  return node;
}

// One write per master first, so that the masters work at the same time.
void ClusterLink::write_pipelines() {
  if (router_.cluster()) {
    for (size_t n = 0; n < wait_due_.size(); ++n) {
      if (!wait_due_[n] || !router_.up(n)) continue;
      wait_due_[n] = false;
      cluster::append_argv(router_.cmd(n), {"WAIT", "1", std::to_string(kWaitReplicaMs)});
      pipeline_.push_back(Pending{Pending::Kind::Wait, 0, n});
    }
  }
  for (size_t n = 0; up_ && n < router_.size(); ++n) {
    int done = 0;
    while (router_.up(n) && !done) {
      if (redisBufferWrite(router_.cmd(n), &done) != REDIS_OK) lose(n, "pipeline write");
    }
  }
}

// Sends every command appended this turn and reads the replies in order. A master lost on the
// way leaves its commands unanswered (fail_unanswered: its publishes get an error); the other
// masters' replies are still read.
void ClusterLink::flush_pipeline() {
  if (pipeline_.empty()) return;
  write_pipelines();
  size_t i = 0;
  for (; up_ && i < pipeline_.size(); ++i) {
    const Pending p = pipeline_[i];  // a copy: confirm() appends SPUBLISHes to pipeline_
    if (!router_.up(p.node)) continue;
    void* raw = nullptr;
    if (redisGetReply(router_.cmd(p.node), &raw) != REDIS_OK) {
      LOG_WARN("cluster_pipeline_failed", "reply=%zu of=%zu master=%s", i, pipeline_.size(),
               router_.address(p.node).text().c_str());
      lose(p.node, "pipeline");
      continue;
    }
    ReplyPtr reply(static_cast<redisReply*>(raw));
    pipeline_[i].kind = Pending::Kind::Other;  // answered: a later go_down must not answer it again
    if (map_changed(reply.get())) map_stale_ = true;
    if (p.kind == Pending::Kind::Publish) {
      on_publish_reply(p, reply.get());
    } else if (p.kind == Pending::Kind::Wait) {
      on_wait_reply(p.node, reply.get());
    } else if (reply->type == REDIS_REPLY_ERROR && !map_stale_) {  // else: one link_down says it
      LOG_WARN("cluster_command_failed", "error=\"%.*s\"", static_cast<int>(reply->len),
               reply->str);
    }
  }
  fail_unanswered(0);  // answered entries are Kind::Other by now
  pipeline_.clear();
  publishes_.clear();
  if (map_stale_ && up_) schedule_refresh();
  map_stale_ = false;
}

// Commands whose reply never came (Redis went away): their outcome is unknown. A publish is
// answered with an error; if its script ran, the message still reaches everybody after the
// resync, and the client's retry makes at worst a duplicate, never a loss. The same for a
// publish whose WAIT never answered: a replica may or may not have it.
void ClusterLink::fail_unanswered(size_t from) {
  auto fail = [&](ClusterPublish& p) {
    to_owner(p.origin.room,
             ClusterPublishDone{std::move(p.origin), false, 0, "cluster unavailable"});
  };
  for (; from < pipeline_.size(); ++from) {
    if (pipeline_[from].kind == Pending::Kind::Publish) fail(publishes_[pipeline_[from].publish]);
  }
  for (auto& waiting : unconfirmed_) {
    for (size_t idx : waiting) fail(publishes_[idx]);
    waiting.clear();
  }
}

void ClusterLink::on_publish_reply(const Pending& pending, redisReply* reply) {
  ClusterPublish& p = publishes_[pending.publish];
  if (reply->type == REDIS_REPLY_ERROR && reply_text(reply).starts_with("NOSCRIPT")) {
    script_sha_.clear();  // flushed behind our back (or a promoted replica): loaded again
  }
  if (reply->type != REDIS_REPLY_INTEGER) {
    auto text = reply_text(reply);
    if (text.starts_with("ASK ") && !pending.asked && retry_on_ask(pending, text)) return;
    // The master lost its data (this node's canary is gone): nothing was ordered; the loss is
    // handled (cluster_link_loss.cpp) before the next publish. The hold: another node is doing so.
    if (text.starts_with("RTCHAT_DATALOSS")) canary_check_due_ = true;
    if (!text.starts_with("RTCHAT_HOLD")) {
      LOG_WARN("cluster_publish_failed", "room=%s error=\"%.*s\"", p.message.room.c_str(),
               static_cast<int>(text.size()), text.data());
    }
    // A Redis Cluster without a master for the slot (CLUSTERDOWN during a failover) or in the
    // middle of moving it (TRYAGAIN) is unavailable for now, like a Redis that is down.
    bool transient = text.starts_with("CLUSTERDOWN") || text.starts_with("TRYAGAIN") ||
                     text.starts_with("MOVED") || text.starts_with("ASK") ||
                     text.starts_with("RTCHAT_") || map_changed(reply);
    to_owner(p.origin.room,
             ClusterPublishDone{std::move(p.origin), false, 0,
                                transient ? "cluster unavailable" : "cluster error"});
    return;
  }
  p.message.id = reply->integer;
  if (!router_.cluster()) {
    confirm(p, reply->integer);
    return;
  }
  unconfirmed_[pending.node].push_back(pending.publish);  // until its master's WAIT answers
}

// The room's slot is being migrated and its keys are already on the target (a new room, or keys
// moved by MIGRATE): the script runs there, after ASKING, in this same pipeline (the loop reads
// what is appended while it reads), followed by the target's own WAIT. Once: a second redirect is
// answered with an error, as is an ASK to a master this link does not know.
bool ClusterLink::retry_on_ask(const Pending& pending, std::string_view error) {
  cluster::Redirect to;
  if (!cluster::parse_redirect(error, to) || !to.ask) return false;
  size_t target = router_.find(to.to);
  if (!router_.up(target) || target >= canaries_.size()) return false;
  redisContext* c = router_.cmd(target);
  cluster::append_argv(c, {"ASKING"});
  pipeline_.push_back(Pending{Pending::Kind::Other, 0, target, false});
  cluster::append_argv(c, publish_argv(publishes_[pending.publish], target));
  pipeline_.push_back(Pending{Pending::Kind::Publish, pending.publish, target, true});
  cluster::append_argv(c, {"WAIT", "1", std::to_string(kWaitReplicaMs)});
  pipeline_.push_back(Pending{Pending::Kind::Wait, 0, target, false});
  return true;
}

// WAIT counted the replicas that have every write this connection made, so every publish of the
// turn on this master at once. None: the messages may vanish in a failover, so they get an error
// and are not fanned out (if they survive, they show up in history and fill a later gap).
void ClusterLink::on_wait_reply(size_t node, redisReply* reply) {
  bool replicated = reply->type == REDIS_REPLY_INTEGER && reply->integer >= 1;
  if (!replicated) no_replica_until_ms_[node] = core::mono_millis() + kNoReplicaRetryMs;
  for (size_t idx : unconfirmed_[node]) {
    ClusterPublish& p = publishes_[idx];
    if (replicated) {
      std::string payload = "m";
      cluster::append_lp(payload, p.message.id);
      payload += cluster::message_tail(p.message);
      append({"SPUBLISH", keys_.channel(p.message.room), std::move(payload)});
      confirm(p, p.message.id);
      continue;
    }
    LOG_WARN("cluster_not_replicated", "room=%s id=%lld master=%s", p.message.room.c_str(),
             static_cast<long long>(p.message.id), router_.address(node).text().c_str());
    to_owner(p.origin.room,
             ClusterPublishDone{std::move(p.origin), false, 0, "cluster unavailable"});
  }
  unconfirmed_[node].clear();
}

// The message has its id (and on a Redis Cluster a replica has it): it is delivered here in id
// order and its ok follows its delivery.
void ClusterLink::confirm(ClusterPublish& p, int64_t id) {
  std::string room_name = p.message.room;
  ClusterPublishDone done{std::move(p.origin), true, id, {}};
  auto it = rooms_.find(room_name);
  if (it == rooms_.end()) {
    to_owner(room_name, std::move(done));  // no member here any more: nobody to deliver to
    return;
  }
  Room& room = it->second;
  if (id <= room.last_delivered) {
    // Redis went back below what this node delivered (lost data) and the floor did not catch
    // it: this id is taken here by another message. Never an ok that its delivery cannot follow.
    LOG_WARN("cluster_id_regressed", "room=%s id=%lld delivered=%lld", room_name.c_str(),
             static_cast<long long>(id), static_cast<long long>(room.last_delivered));
    to_owner(room_name,
             ClusterPublishDone{std::move(done.origin), false, 0, "cluster unavailable"});
    return;
  }
  room.acks.emplace(id, std::move(done));
  offer(room_name, room, std::move(p.message));
}

// On the room's master (on), or on the master it was subscribed on (off); the room remembers
// where, so that only rooms whose master changed are subscribed again after a failover.
void ClusterLink::subscribe(const std::string& room, bool on) {
  const std::string ch = keys_.channel(room);
  const char* verb =
      router_.cluster() ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE") : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
  auto it = rooms_.find(room);
  size_t node = router_.node_of(ch);
  if (!on && it != rooms_.end()) node = it->second.master;
  if (on && it != rooms_.end()) it->second.master = router_.up(node) ? node : kNoMaster;
  if (!router_.up(node)) return;
  if (!on && router_.cluster()) ++own_unsubscribes_[{node, room}];
  cluster::append_argv(router_.sub(node), {verb, ch});
  sub_dirty_ = true;
}

void ClusterLink::flush_subscriptions() {
  if (!up_ || !sub_dirty_) return;
  sub_dirty_ = false;
  for (size_t n = 0; up_ && n < router_.size(); ++n) {
    int done = 0;
    while (router_.up(n) && !done) {
      if (redisBufferWrite(router_.sub(n), &done) != REDIS_OK) lose(n, "subscribe");
    }
  }
}

void ClusterLink::read_subscriptions() {
  for (size_t n = 0; up_ && n < router_.size(); ++n) {
    if (!router_.up(n)) continue;
    redisContext* sub = router_.sub(n);
    pollfd p{sub->fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (redisBufferRead(sub) != REDIS_OK) {
      lose(n, "subscription read");
      continue;
    }
    // sync_room (a confirmed subscribe) runs commands that may lose this very master.
    while (up_ && router_.up(n)) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(sub, &raw) != REDIS_OK) {
        lose(n, "subscription parse");
        break;
      }
      if (!raw) break;
      ReplyPtr reply(static_cast<redisReply*>(raw));
      on_sub_reply(n, reply.get());
    }
  }
}

void ClusterLink::on_sub_reply(size_t node, redisReply* r) {
  if (cluster::RedisRouter::says_map_changed(r)) {
    // An SSUBSCRIBE answered MOVED: the rooms sent there are subscribed again after the refresh.
    for (auto& [name, room] : rooms_) {
      if (room.master == node && !room.subscribed) room.master = kNoMaster;
    }
    schedule_refresh();
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  auto kind = reply_text(r->element[0]);
  if (reply_text(r->element[1]) == cluster::kControlChannel) {
    if (kind == "message") on_control_payload(reply_text(r->element[2]));
    return;
  }
  std::string name;
  if (!keys_.room_of_channel(reply_text(r->element[1]), name)) return;
  if (kind == "sunsubscribe") {
    // The confirmation of one of our own SUNSUBSCRIBEs (a room left, or moved by a map read),
    // whatever became of the room since (left and joined again in one round trip): not a move.
    auto own = own_unsubscribes_.find({node, name});
    if (own != own_unsubscribes_.end()) {
      if (--own->second == 0) own_unsubscribes_.erase(own);
      return;
    }
  }
  auto it = rooms_.find(name);
  if (it == rooms_.end() || it->second.master != node) return;  // not (or no longer) from there
  if (kind == "subscribe" || kind == "ssubscribe") {
    sync_room(name);
    return;
  }
  if (kind == "sunsubscribe") {
    // Redis dropped the subscription itself: the room's slot moved to another master. Only this
    // room is subscribed again (and resynced) once the map is read again.
    forget_subscription(it->second);
    schedule_refresh();
    return;
  }
  if (kind != "message" && kind != "smessage") return;
  if (!it->second.subscribed) return;  // the sync reads what this says
  on_room_payload(name, it->second, reply_text(r->element[2]));
}

}  // namespace rtchat::server
