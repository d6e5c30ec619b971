// The connections of a node to its Redis: one Redis (redis://HOST:PORT) or a Redis Cluster
// (redis-cluster://HOST:PORT[,HOST:PORT...]). A hand-written slot router over plain hiredis:
// Debian's libhiredis (0.14) has no cluster client, and hiredis-cluster is not packaged there. The
// link needs little of one: the slot map (CLUSTER SLOTS), one command connection (pipelined) and
// one sharded pub/sub connection per master, the CRC16 slot of a key, and redirects. A MOVED or
// a lost connection means the map is stale: the storage thread resets the router and connects
// again (the map from the masters it knew, then the seeds); the link drops only the lost master
// and refreshes the map, keeping the other masters' connections (refresh()). An ASK (a slot
// being migrated) is followed once by blocking commands (the link retries pipelined publishes).
//
// Thread-confined: one router per thread (the link's, the storage thread's).
#pragma once

#include <sys/time.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/cluster/redis_reply.h"
#include "server/cluster/redis_url.h"
#include "server/cluster/slot_map.h"

namespace rtchat::server::cluster {

class RedisRouter {
 public:
  struct Options {
    timeval connect_timeout{0, 500 * 1000};
    timeval io_timeout{5, 0};
    bool subscribers = false;  // a pub/sub connection per node too
  };
  RedisRouter(std::vector<RedisAddress> seeds, bool cluster, Options options);

  // Reads the slot map (cluster) and connects to every master. False, with error() set, when
  // any of them cannot be reached or the map does not cover every slot (a failover under way):
  // nothing is connected then and the caller retries later.
  bool connect();
  void reset();  // drops every connection (the map is read again on the next connect)
  bool connected() const { return !nodes_.empty(); }
  bool cluster() const { return cluster_; }
  const std::string& error() const { return error_; }

  // Redis Cluster, one master lost or the map changed (failover, resharding): reads the map
  // again (from a master still connected first) and connects the masters it names that are not
  // connected; connections to masters that stay are kept, those to nodes no longer masters are
  // dropped. A node keeps its index (by address) for the router's life, so that the caller's
  // per-master state stays valid; size() only grows, by one per address ever a master. False
  // when the map is not whole yet or a master in it cannot be reached (retry later); the map
  // read is kept either way. `now_ms`: a master dropped less than kRedialMs ago is not dialled
  // again (a dead host's connect timeout would stall the others' traffic at every try).
  bool refresh(int64_t now_ms);
  void drop(size_t node, int64_t now_ms);  // a master failed: its connections are closed
  bool up(size_t node) const { return node < nodes_.size() && nodes_[node].cmd != nullptr; }
  bool any_up() const;
  size_t find(const RedisAddress& a) const;  // the node's index, size() when unknown
  std::string masters_text() const;  // "host:port(up|down) ..." of the current map, for logs

  size_t size() const { return nodes_.size(); }
  redisContext* cmd(size_t node) { return nodes_[node].cmd.get(); }
  redisContext* sub(size_t node) { return nodes_[node].sub.get(); }
  const RedisAddress& address(size_t node) const { return nodes_[node].address; }
  // The node serving the key's slot (0 for one Redis). Valid while connected.
  size_t node_of(std::string_view key) const;

  // One blocking command on `node`. An ASK reply is followed once (ASKING + the command on the
  // target, when it is one of our masters). Null when the connection failed (error() says why;
  // the caller resets). A MOVED comes back as the error reply it is: see is_moved().
  RedisReplyPtr command_on(size_t node, const std::vector<std::string>& argv);
  RedisReplyPtr command(std::string_view key, const std::vector<std::string>& argv) {
    return command_on(node_of(key), argv);
  }
  static bool is_moved(const redisReply* r);
  // A MOVED, a CLUSTERDOWN (slots without a master: a failover under way), or a script that
  // touched a key of a slot its master no longer serves: the map is to be read again.
  static bool says_map_changed(const redisReply* r);

 private:
  struct Node {
    RedisAddress address;
    RedisContextPtr cmd;
    RedisContextPtr sub;
    int64_t dropped_at_ms = -1;
  };
  static constexpr int64_t kRedialMs = 1000;
  RedisContextPtr open(const RedisAddress& a);
  bool read_map(int64_t now_ms);
  bool load_map_from(redisContext* c, const RedisAddress& a);
  size_t index_of(const RedisAddress& a);
  bool dial(Node& n, int64_t now_ms);
  RedisReplyPtr follow_ask(const redisReply* r, const std::vector<std::string>& argv);

  std::vector<RedisAddress> seeds_;
  bool cluster_;
  Options options_;
  SlotMap map_;
  std::vector<RedisAddress> known_;  // masters of the last map: asked first next time
  std::vector<Node> nodes_;
  std::vector<size_t> node_of_master_;  // map_.masters() index -> nodes_ index
  std::string error_;
};

// argv -> one hiredis command (pipelined: appended to the context's output buffer).
void append_argv(redisContext* c, const std::vector<std::string>& argv);
RedisReplyPtr run_argv(redisContext* c, const std::vector<std::string>& argv);

}  // namespace rtchat::server::cluster
