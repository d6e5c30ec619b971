#include "server/cluster/cluster_router.h"

#include <algorithm>

namespace rtchat::server::cluster {

void append_argv(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data());
}

RedisReplyPtr run_argv(redisContext* c, const std::vector<std::string>& argv) {
  append_argv(c, argv);
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK) return nullptr;
  return RedisReplyPtr(static_cast<redisReply*>(raw));
}

RedisRouter::RedisRouter(std::vector<RedisAddress> seeds, bool cluster, Options options)
    : seeds_(std::move(seeds)), cluster_(cluster), options_(options) {}

RedisContextPtr RedisRouter::open(const RedisAddress& a) {
  RedisContextPtr c(redisConnectWithTimeout(a.host.c_str(), a.port, options_.connect_timeout));
  if (!c || c->err) {
    error_ = a.text() + ": " + (c ? c->errstr : "no context");
    return nullptr;
  }
  redisSetTimeout(c.get(), options_.io_timeout);
  redisEnableKeepAlive(c.get());
  return c;
}

// The map from the first node that answers: the masters of the last map first (they know about
// a failover before a seed that died does), then the seeds.
bool RedisRouter::read_map() {
  std::vector<RedisAddress> ask = known_;
  for (const auto& s : seeds_) {
    if (std::find(ask.begin(), ask.end(), s) == ask.end()) ask.push_back(s);
  }
  for (const auto& a : ask) {
    RedisContextPtr c = open(a);
    if (!c) continue;
    RedisReplyPtr r = run_argv(c.get(), {"CLUSTER", "SLOTS"});
    SlotMap m;
    if (!r || !m.load(r.get(), a.host)) {
      error_ = a.text() + ": CLUSTER SLOTS failed";
      continue;
    }
    if (!m.complete()) {
      error_ = a.text() + ": slots without a master (failover under way?)";
      continue;
    }
    // A map can be whole while the cluster still says it is down (just after a failover):
    // every write would fail with CLUSTERDOWN, so wait until it is ok.
    RedisReplyPtr info = run_argv(c.get(), {"CLUSTER", "INFO"});
    if (!info || reply_text(info.get()).find("cluster_state:ok") == std::string_view::npos) {
      error_ = a.text() + ": cluster_state not ok";
      continue;
    }
    map_ = std::move(m);
    known_ = map_.masters();
    return true;
  }
  return false;
}

bool RedisRouter::connect() {
  reset();
  std::vector<RedisAddress> masters = seeds_;
  if (cluster_) {
    if (!read_map()) return false;
    masters = map_.masters();
  }
  std::vector<Node> nodes;
  for (const auto& a : masters) {
    Node n{a, open(a), nullptr};
    if (!n.cmd) return false;
    if (options_.subscribers && !(n.sub = open(a))) return false;
    nodes.push_back(std::move(n));
  }
  nodes_ = std::move(nodes);
  error_.clear();  // what failed before this connect is not the cause of a later failure
  return true;
}

void RedisRouter::reset() { nodes_.clear(); }

size_t RedisRouter::node_of(std::string_view key) const {
  if (!cluster_) return 0;
  int o = map_.owner(key_slot(key));
  return o < 0 ? 0 : static_cast<size_t>(o);
}

bool RedisRouter::is_moved(const redisReply* r) {
  return r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("MOVED");
}

RedisReplyPtr RedisRouter::command_on(size_t node, const std::vector<std::string>& argv) {
  if (node >= nodes_.size()) return nullptr;
  RedisReplyPtr r = run_argv(nodes_[node].cmd.get(), argv);
  if (!r) {
    error_ = nodes_[node].address.text() + ": " + nodes_[node].cmd->errstr;
    return nullptr;
  }
  if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("ASK ")) {
    return follow_ask(r.get(), argv);
  }
  return r;
}

// The slot is being migrated and the key already moved: the target serves this one command if
// it is preceded by ASKING (the map is not changed by an ASK).
RedisReplyPtr RedisRouter::follow_ask(const redisReply* r, const std::vector<std::string>& argv) {
  Redirect to;
  if (!parse_redirect(std::string_view(r->str, r->len), to)) return nullptr;
  for (auto& n : nodes_) {
    if (n.address.port != to.to.port || n.address.host != to.to.host) continue;
    append_argv(n.cmd.get(), {"ASKING"});
    RedisReplyPtr asking = run_argv(n.cmd.get(), argv);
    void* raw = nullptr;
    // run_argv read the ASKING reply; the command's reply follows.
    if (!asking || redisGetReply(n.cmd.get(), &raw) != REDIS_OK) {
      error_ = n.address.text() + ": ASK target failed";
      return nullptr;
    }
    return RedisReplyPtr(static_cast<redisReply*>(raw));
  }
  error_ = "ASK to an unknown node " + to.to.text();
  return nullptr;
}

}  // namespace rtchat::server::cluster
