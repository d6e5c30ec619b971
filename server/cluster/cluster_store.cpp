#include "server/cluster/cluster_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/clock.h"
#include "server/cluster/cluster_router.h"
#include "server/cluster/cluster_wire.h"
#include "server/cluster/redis_reply.h"
#include "server/log.h"

namespace rtchat::server {
namespace {

constexpr int64_t kRetryAfterMs = 1000;  // while Redis is away, at most one attempt a second

using ReplyPtr = RedisReplyPtr;

std::string stream_id(int64_t id) { return std::to_string(id) + "-0"; }

class ClusterStore final : public Store {
 public:
  ClusterStore(std::unique_ptr<Store> local, cluster::RedisRouter router)
      : local_(std::move(local)), router_(std::move(router)), keys_(router_.cluster()) {}

  bool append(std::span<const proto::ChatMessage> batch, std::string& error) override {
    if (local_->append(batch, error)) return true;
    // All or nothing failed: keep what can be kept one by one (an id already stored here, after
    // a resync, must not cost the batch's other copies).
    bool any = false;
    for (const auto& m : batch) any |= local_->append(std::span(&m, 1), error);
    return any;
  }

  bool page(std::string_view room, std::optional<int64_t> before_id, int limit,
            std::vector<proto::ChatMessage>& out, bool& has_more) override {
    limit = std::clamp(limit, 1, kMaxPageLimit);
    std::string end = before_id ? stream_id(*before_id - 1) : std::string("+");
    if (before_id && *before_id <= 1) {
      out.clear();
      has_more = false;
      return true;
    }
    ReplyPtr r =
        command({"XREVRANGE", keys_.log(room), end, "-", "COUNT", std::to_string(limit + 1)});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      return local_->page(room, before_id, limit, out, has_more);
    }
    out.clear();
    size_t n = std::min<size_t>(r->elements, static_cast<size_t>(limit));
    has_more = r->elements > n;
    for (size_t i = n; i-- > 0;) {  // newest first from Redis, oldest first to the client
      proto::ChatMessage m;
      if (parse_stream_entry(r->element[i], room, m) && m.delete_target == 0) {
        apply_local_tombstone(m);
        out.push_back(std::move(m));
      }
    }
    if (!has_more) continue_from_local(room, before_id, limit, out, has_more);
    return true;
  }

  bool range(std::string_view room, int64_t after_id, int64_t upto_id, int max_count,
             std::vector<proto::ChatMessage>& out) override {
    out.clear();
    if (max_count <= 0 || upto_id <= after_id) return true;
    ReplyPtr r = command({"XRANGE", keys_.log(room), stream_id(after_id + 1), stream_id(upto_id),
                          "COUNT", std::to_string(max_count)});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      return local_->range(room, after_id, upto_id, max_count, out);
    }
    for (size_t i = 0; i < r->elements; ++i) {
      proto::ChatMessage m;
      if (parse_stream_entry(r->element[i], room, m)) {
        apply_local_tombstone(m);
        out.push_back(std::move(m));
      }
    }
    // The stream starts after after_id + 1: its older entries were trimmed (MAXLEN ~) or lost
    // with Redis's data. The node's local copy may have them: they come first.
    int64_t first = out.empty() ? upto_id + 1 : out.front().id;
    if (first > after_id + 1) {
      std::vector<proto::ChatMessage> older;
      if (local_->range(room, after_id, first - 1, max_count, older) && !older.empty()) {
        older.insert(older.end(), std::make_move_iterator(out.begin()),
                     std::make_move_iterator(out.end()));
        if (older.size() > static_cast<size_t>(max_count)) older.resize(max_count);
        out = std::move(older);
      }
    }
    return true;
  }

  // The local copy's last id: only a floor. In cluster mode the room's order comes from Redis
  // (the link's sync sets the baseline); this value serves while Redis is unreachable.
  bool last_id(std::string_view room, int64_t& out) override { return local_->last_id(room, out); }
  // The local copy only: the floors are asked for because Redis lost its data.
  bool room_floors(std::string_view after_room, int limit,
                   std::vector<std::pair<std::string, int64_t>>& out) override {
    return local_->room_floors(after_room, limit, out);
  }

  // delete_msg's checks read the node's own copy: every delivered message and delete is there.
  bool find_message(std::string_view room, int64_t id, proto::ChatMessage& out,
                    bool& found) override {
    return local_->find_message(room, id, out, found);
  }

  bool room_exists(std::string_view room) override {
    ReplyPtr r = command({"EXISTS", keys_.log(room)});
    if (!r || r->type != REDIS_REPLY_INTEGER) return local_->room_exists(room);
    return r->integer > 0 || local_->room_exists(room);
  }

  int64_t apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) override {
    return local_->apply_retention(max_per_room, max_age_ms, now_ms);
  }

  // Read state is kept in each node's local store (docs/cluster.md): a user's devices on one
  // node share it. The unread count comes from the stream, the cluster's one order.
  bool mark_read(std::span<ReadMark> marks, std::string& error) override {
    return local_->mark_read(marks, error);
  }
  bool read_state(std::string_view user_id, std::string_view room, int64_t upto_id, int max_unread,
                  int64_t& last_read_id, int& unread) override {
    if (!local_->read_state(user_id, room, upto_id, max_unread, last_read_id, unread)) {
      return false;
    }
    std::vector<proto::ChatMessage> newer;
    if (range(room, last_read_id, upto_id, max_unread, newer)) {
      unread = static_cast<int>(newer.size());
    }
    return true;
  }

 private:
  // The stream gave everything it has below before_id (out, oldest first, possibly empty): older
  // messages can only be in the node's local copy (the stream keeps about the last 100000 per
  // room, and a Redis that lost its data keeps none). They fill the rest of the page; has_more
  // says whether the local copy has more below.
  void continue_from_local(std::string_view room, std::optional<int64_t> before_id, int limit,
                           std::vector<proto::ChatMessage>& out, bool& has_more) {
    std::optional<int64_t> below = out.empty() ? before_id : std::optional(out.front().id);
    if (below && *below <= 1) return;  // nothing can be older than id 1
    const int room_left = limit - static_cast<int>(out.size());
    std::vector<proto::ChatMessage> older;
    bool older_more = false;
    // A full page only needs to know whether anything older exists: one row.
    if (!local_->page(room, below, std::max(room_left, 1), older, older_more)) return;
    if (room_left <= 0) {
      has_more = !older.empty();
      return;
    }
    has_more = older_more;
    older.insert(older.end(), std::make_move_iterator(out.begin()),
                 std::make_move_iterator(out.end()));
    out = std::move(older);
  }

  // The stream's entries are immutable: a deleted message's body stays there until the stream is
  // trimmed. Reads answer with the node's own copy's tombstone (body erased) instead.
  void apply_local_tombstone(proto::ChatMessage& m) {
    if (m.delete_target != 0) return;
    proto::ChatMessage local;
    bool found = false;
    if (local_->find_message(m.room, m.id, local, found) && found && local.deleted) {
      m.body.clear();
      m.deleted = true;
    }
  }

  // One retry on fresh connections: after a Redis restart the old ones are simply stale, after
  // a failover or resharding (MOVED) the map is.
  ReplyPtr command(const std::vector<std::string>& argv) {
    bool fresh = !router_.connected();
    ReplyPtr r = attempt(argv);
    if (!r && !fresh && !router_.connected()) r = attempt(argv);
    if (!r && core::mono_millis() >= next_log_ms_) {
      LOG_WARN("cluster_history_fallback", "reason=\"%s\" source=local", last_error_.c_str());
      next_log_ms_ = core::mono_millis() + 10000;  // once per 10 s while Redis is away
    }
    return r;
  }

  ReplyPtr attempt(const std::vector<std::string>& argv) {
    if (!router_.connected()) {
      int64_t now = core::mono_millis();
      if (now < retry_at_ms_) return nullptr;
      if (!router_.connect()) {
        last_error_ = router_.error();
        router_.reset();
        retry_at_ms_ = now + kRetryAfterMs;  // unreachable: the local copy answers for a second
        return nullptr;
      }
    }
    ReplyPtr r = router_.command(argv[1], argv);  // every command here names its key first
    if (!r || cluster::RedisRouter::is_moved(r.get())) {
      last_error_ = r ? std::string(reply_text(r.get())) : router_.error();
      router_.reset();
      return nullptr;
    }
    return r;
  }

  std::unique_ptr<Store> local_;
  cluster::RedisRouter router_;
  cluster::Keys keys_;
  int64_t retry_at_ms_ = 0;
  int64_t next_log_ms_ = 0;
  std::string last_error_;
};

}  // namespace

std::unique_ptr<Store> make_cluster_store(std::unique_ptr<Store> local,
                                          const ServerConfig& config) {
  std::vector<cluster::RedisAddress> seeds;
  bool redis_cluster = false;
  if (!cluster::parse_backend_url(config.cluster_url, seeds, redis_cluster)) {
    throw std::runtime_error(
        "bad --cluster URL (redis://HOST:PORT or redis-cluster://HOST:PORT[,HOST:PORT...] "
        "expected): " +
        config.cluster_url);
  }
  cluster::RedisRouter::Options options;
  options.connect_timeout = timeval{0, 300 * 1000};
  options.io_timeout = timeval{1, 0};  // a read that waits longer falls back to the local copy
  return std::make_unique<ClusterStore>(
      std::move(local), cluster::RedisRouter(std::move(seeds), redis_cluster, options));
}

}  // namespace rtchat::server
