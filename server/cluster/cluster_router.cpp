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

// CLUSTER SLOTS (and CLUSTER INFO) on `c`: the map, when whole and the cluster says it is ok.
bool RedisRouter::load_map_from(redisContext* c, const RedisAddress& a) {
  RedisReplyPtr r = run_argv(c, {"CLUSTER", "SLOTS"});
  SlotMap m;
  if (!r || !m.load(r.get(), a.host)) {
    error_ = a.text() + ": CLUSTER SLOTS failed";
    return false;
  }
  if (!m.complete()) {
    error_ = a.text() + ": slots without a master (failover under way?)";
    return false;
  }
  // A map can be whole while the cluster still says it is down (just after a failover): every
  // write would fail with CLUSTERDOWN, so wait until it is ok.
  RedisReplyPtr info = run_argv(c, {"CLUSTER", "INFO"});
  if (!info || reply_text(info.get()).find("cluster_state:ok") == std::string_view::npos) {
    error_ = a.text() + ": cluster_state not ok";
    return false;
  }
  map_ = std::move(m);
  known_ = map_.masters();
  return true;
}

// The map from the first node that answers: the masters still connected (no new connection),
// then the masters of the last map (they know about a failover before a seed that died does),
// then the seeds. A node dropped just now is not dialled (see refresh()).
bool RedisRouter::read_map(int64_t now_ms) {
  std::vector<RedisAddress> ask = known_;
  for (const auto& s : seeds_) {
    if (std::find(ask.begin(), ask.end(), s) == ask.end()) ask.push_back(s);
  }
  bool any_live = false;
  for (auto& n : nodes_) {
    if (!n.cmd) continue;
    any_live = true;
    if (load_map_from(n.cmd.get(), n.address)) return true;
  }
  // With masters still connected, their view is the one to wait for: a node coming back (the old
  // master restarted) still claims its slots for a moment, and a seed may be such a node.
  if (any_live) return false;
  for (const auto& a : ask) {
    auto known = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node& n) {
      return n.address == a && (n.cmd || now_ms - n.dropped_at_ms < kRedialMs);
    });
    if (known != nodes_.end()) continue;  // asked above, or dropped just now
    RedisContextPtr c = open(a);
    if (c && load_map_from(c.get(), a)) return true;
  }
  return false;
}

bool RedisRouter::connect() {
  reset();
  if (!cluster_) {
    for (const auto& a : seeds_) {
      Node n{a, open(a), nullptr};
      if (!n.cmd || (options_.subscribers && !(n.sub = open(a)))) {
        reset();
        return false;
      }
      nodes_.push_back(std::move(n));
    }
    error_.clear();  // what failed before this connect is not the cause of a later failure
    return true;
  }
  if (!refresh(0)) {
    reset();
    return false;
  }
  return true;
}

bool RedisRouter::refresh(int64_t now_ms) {
  if (!read_map(now_ms)) return false;
  std::vector<size_t> index;
  for (const auto& a : map_.masters()) index.push_back(index_of(a));
  node_of_master_ = index;
  bool whole = true;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    bool master = std::find(index.begin(), index.end(), i) != index.end();
    if (!master) {
      if (nodes_[i].cmd) drop(i, now_ms);  // a replica now (or gone): its slots are elsewhere
      continue;
    }
    if (!nodes_[i].cmd && !dial(nodes_[i], now_ms)) whole = false;
  }
  if (whole) error_.clear();
  return whole;
}

bool RedisRouter::dial(Node& n, int64_t now_ms) {
  if (n.dropped_at_ms >= 0 && now_ms - n.dropped_at_ms < kRedialMs) {
    error_ = n.address.text() + ": lost just now, not dialled again yet";
    return false;
  }
  n.cmd = open(n.address);
  if (n.cmd && options_.subscribers) n.sub = open(n.address);
  if (!n.cmd || (options_.subscribers && !n.sub)) {
    n.cmd.reset();
    n.sub.reset();
    n.dropped_at_ms = now_ms;
    return false;
  }
  n.dropped_at_ms = -1;
  return true;
}

size_t RedisRouter::index_of(const RedisAddress& a) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].address == a) return i;
  }
  nodes_.push_back(Node{a, nullptr, nullptr, -1});
  return nodes_.size() - 1;
}

void RedisRouter::drop(size_t node, int64_t now_ms) {
  if (node >= nodes_.size()) return;
  nodes_[node].cmd.reset();
  nodes_[node].sub.reset();
  nodes_[node].dropped_at_ms = now_ms;
}

size_t RedisRouter::find(const RedisAddress& a) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].address == a) return i;
  }
  return nodes_.size();
}

bool RedisRouter::any_up() const {
  return std::any_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.cmd != nullptr; });
}

std::string RedisRouter::masters_text() const {
  std::string out;
  for (size_t i : node_of_master_) {
    if (!out.empty()) out.push_back(' ');
    out.append(nodes_[i].address.text()).append(nodes_[i].cmd ? "(up)" : "(down)");
  }
  return out;
}

void RedisRouter::reset() {
  nodes_.clear();
  node_of_master_.clear();
}

size_t RedisRouter::node_of(std::string_view key) const {
  if (!cluster_) return 0;
  int o = map_.owner(key_slot(key));
  return o < 0 || static_cast<size_t>(o) >= node_of_master_.size() ? 0 : node_of_master_[o];
}

bool RedisRouter::is_moved(const redisReply* r) {
  return r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("MOVED");
}

bool RedisRouter::says_map_changed(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ERROR) return false;
  std::string_view text(r->str, r->len);
  return text.starts_with("MOVED") || text.starts_with("CLUSTERDOWN") ||
         text.find("non local key") != std::string_view::npos;
}

RedisReplyPtr RedisRouter::command_on(size_t node, const std::vector<std::string>& argv) {
  if (!up(node)) return nullptr;
  RedisReplyPtr r = run_argv(nodes_[node].cmd.get(), argv);
  if (!r) {
    error_ = nodes_[node].address.text() + ": " + nodes_[node].cmd->errstr;
    return nullptr;
  }
  if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("ASK ")) {
    // Not followed (a target missing from the map, e.g. a master just added; or its connection
    // failed): the command fails with the ASK itself (the link then reads the map again). Never
    // a null: that would drop this master, which answered and is healthy.
    if (RedisReplyPtr followed = follow_ask(r.get(), argv)) return followed;
  }
  return r;
}

// The slot is being migrated and the key already moved: the target serves this one command if
// it is preceded by ASKING (the map is not changed by an ASK).
RedisReplyPtr RedisRouter::follow_ask(const redisReply* r, const std::vector<std::string>& argv) {
  Redirect to;
  if (!parse_redirect(std::string_view(r->str, r->len), to)) return nullptr;
  for (auto& n : nodes_) {
    if (n.address.port != to.to.port || n.address.host != to.to.host || !n.cmd) continue;
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
