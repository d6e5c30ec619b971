#include "server/storage/storage_thread.h"

#include <algorithm>

#include "core/clock.h"
#include "core/overloaded.h"
#include "server/log.h"

namespace rtchat::server {
namespace {
constexpr size_t kMailboxCapacity = 8192;
constexpr size_t kFloorsCapacity = 4;  // the link keeps one floors request out at a time
constexpr size_t kMaxBatch = 4096;     // appends per transaction
constexpr int kIdleWaitMs = 1000;      // retention runs on idle wake-ups
// One history page (200 messages of up to 4000 characters, 6 bytes each once escaped, would be
// 4.8 MB) is cut to this much JSON: a page stays well under --outbound-cap-bytes, so paging
// never trips the slow-consumer close, and one request cannot make the server hold megabytes.
constexpr size_t kMaxPageBytes = 256 * 1024;
}  // namespace

namespace {
// delete_msg's checks, against the stored target (docs/protocol.md "Moderation"): a message that
// exists and is not already deleted (nor itself a delete event), written by the requester unless
// the requester may moderate the room. "" = allowed.
std::string_view delete_refusal(bool found, const proto::ChatMessage& target,
                                const Publish& request) {
  if (!found || target.deleted || target.delete_target != 0) return "not_found";
  if (target.user_id != request.user_id && !request.may_moderate) return "not_allowed";
  return {};
}

size_t estimated_json_bytes(std::string_view s) {
  size_t n = 0;
  for (unsigned char ch : s) n += ch < 0x20 ? 6 : (ch == '"' || ch == '\\') ? 2 : 1;
  return n;
}
size_t estimated_message_bytes(const proto::ChatMessage& m) {
  constexpr size_t kFixedBytes = 100;  // keys, id, ts, punctuation
  return kFixedBytes + estimated_json_bytes(m.body) + estimated_json_bytes(m.user) +
         estimated_json_bytes(m.user_id) + m.room.size();
}
}  // namespace

size_t estimated_page_bytes(const std::vector<proto::ChatMessage>& messages) {
  size_t n = 0;
  for (const auto& m : messages) n += estimated_message_bytes(m);
  return n;
}

void cap_page_bytes(std::vector<proto::ChatMessage>& messages, bool& has_more, size_t max_bytes) {
  size_t total = 0;
  size_t keep = 0;  // newest messages that fit, counted from the end
  for (auto it = messages.rbegin(); it != messages.rend(); ++it, ++keep) {
    total += estimated_message_bytes(*it);
    if (total > max_bytes && keep > 0) break;
  }
  if (keep == messages.size()) return;
  messages.erase(messages.begin(),
                 messages.begin() + static_cast<std::ptrdiff_t>(messages.size() - keep));
  has_more = true;
}

StorageThread::StorageThread(std::unique_ptr<Store> store, const ServerConfig& config,
                             unsigned shards)
    : store_(std::move(store)), config_(config) {
  for (unsigned i = 0; i < shards; ++i) {
    inboxes_.push_back(
        std::make_unique<core::Mailbox<StorageRequest>>(kMailboxCapacity, doorbell_));
  }
  replies_.resize(shards);
  floors_in_ = std::make_unique<core::Mailbox<StoreRoomFloors>>(kFloorsCapacity, doorbell_);
}

StorageThread::~StorageThread() { stop(); }

void StorageThread::set_reply_mailbox(unsigned shard, core::Mailbox<StorageReply>& mailbox) {
  replies_[shard] = std::make_unique<core::Outbox<StorageReply>>(mailbox);
}

void StorageThread::set_floors_reply_mailbox(core::Mailbox<StoreRoomFloorsDone>& mailbox) {
  floors_out_ = std::make_unique<core::Outbox<StoreRoomFloorsDone>>(mailbox);
}

bool StorageThread::answer_floors() {
  StoreRoomFloors request;
  if (!floors_in_->try_pop(request)) return false;
  if (!floors_out_) return true;  // not wired (no cluster link): nobody to answer
  StoreRoomFloorsDone done;
  done.ok = store_->room_floors(request.after_room, request.limit, done.floors);
  if (!done.ok) LOG_WARN("storage_floors_failed", "after_bytes=%zu", request.after_room.size());
  done.request = std::move(request);
  floors_out_->send(std::move(done));
  return true;
}

void StorageThread::flush_replies() {
  for (auto& r : replies_) r->flush();
  if (floors_out_) floors_out_->flush();
}

void StorageThread::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void StorageThread::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    doorbell_.signal();
    thread_.join();
  }
}

void StorageThread::run(std::stop_token stop) {
  int64_t next_sweep = core::mono_millis() + config_.retention_sweep_ms;
  for (;;) {
    bool worked = drain_once();
    worked |= answer_floors();
    flush_replies();
    if (worked) continue;
    if (stop.stop_requested()) {
      // Shards are stopped: answer whatever is left, then go (drain without loss).
      if (!drain_once()) break;
      flush_replies();
      continue;
    }
    int idle_ms = sweep_retention_if_due(next_sweep);
    bool backlog = false;
    for (auto& r : replies_) backlog |= r->backlog() > 0;
    doorbell_.sleep_unless_pending(
        [&] {
          bool empty = !stop.stop_requested() && floors_in_->size_approx() == 0;
          for (auto& in : inboxes_) empty &= in->size_approx() == 0;
          return empty;
        },
        [&] { doorbell_.wait(backlog ? 1 : idle_ms); });
  }
}

int StorageThread::sweep_retention_if_due(int64_t& next_sweep_ms) {
  if (config_.retention_max_messages <= 0 && config_.retention_max_age_s <= 0) return kIdleWaitMs;
  int64_t now = core::mono_millis();
  if (now >= next_sweep_ms) {
    int64_t n = store_->apply_retention(config_.retention_max_messages,
                                        config_.retention_max_age_s * 1000, core::unix_millis());
    if (n > 0) metrics_.retention_deleted.add(static_cast<uint64_t>(n));
    next_sweep_ms = now + config_.retention_sweep_ms;
  }
  return static_cast<int>(std::clamp<int64_t>(next_sweep_ms - now, 1, kIdleWaitMs));
}

bool StorageThread::drain_once() {
  bool worked = false;
  appends_.clear();
  StorageRequest request;
  size_t depth = 0;
  for (unsigned shard = 0; shard < inboxes_.size(); ++shard) {
    depth += inboxes_[shard]->size_approx();
    while (appends_.size() + marks_.size() < kMaxBatch && inboxes_[shard]->try_pop(request)) {
      worked = true;
      if (auto* a = std::get_if<StoreAppend>(&request)) {
        // A delete is checked when asked (check_only); its append after that is trusted (the
        // owner lets one delete per message through at a time), so it always gets its id.
        if (a->check_only && !admit_delete(shard, *a)) continue;
        if (a->check_only) {  // checked, not stored: the owner orders it now (shard/owner_api.cpp)
          replies_[shard]->send(
              StoreAppendDone{std::move(a->message), std::move(*a->origin), true, {}, {}, true});
          continue;
        }
        appends_.emplace_back(shard, std::move(*a));
      } else if (auto* r = std::get_if<StoreMarkRead>(&request)) {
        marks_.emplace_back(shard, std::move(*r));  // same group commit as the appends
      } else {
        // Reads see every append that came before them from the same shard: commit those first
        // so the answer is consistent with what that shard already acknowledged.
        commit_appends();
        handle(shard, std::move(request));
      }
    }
  }
  metrics_.queue_depth.set(depth);
  commit_appends();
  // A memo serves one batch: retention may run between batches, and an idle thread holds none.
  last_catchup_.reset();
  return worked;
}

void StorageThread::commit_appends() {
  commit_messages();
  if (!marks_.empty()) {
    // The message answers leave (and wake their shards) before the read marks' transaction:
    // read-state writes never delay a delivery committed in the same batch.
    for (auto& r : replies_) r->flush();
    commit_read_marks();
  }
}

void StorageThread::commit_messages() {
  if (appends_.empty()) return;
  last_catchup_.reset();  // a delete turns a stored message into a tombstone
  batch_.clear();
  for (auto& entry : appends_) batch_.push_back(entry.second.message);
  if (config_.fault_storage_delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(config_.fault_storage_delay_ms));
  }
  std::string error;
  int64_t t0 = core::mono_micros();
  bool ok = store_->append(batch_, error);
  metrics_.commit_latency.observe(static_cast<uint64_t>(core::mono_micros() - t0));
  if (ok) {
    metrics_.commits.add();
    metrics_.messages_committed.add(batch_.size());
  } else {
    // Nothing of the batch is stored: every publisher gets an error reply, never an ok.
    metrics_.commit_failures.add();
    LOG_ERROR("storage_commit_failed", "messages=%zu error=\"%s\"", batch_.size(), error.c_str());
  }
  for (auto& [shard, append] : appends_) {
    if (!append.origin) continue;  // a cluster node's own copy: nobody waits for it
    replies_[shard]->send(StoreAppendDone{
        std::move(append.message), std::move(*append.origin), ok, ok ? std::string() : error, {}});
  }
  appends_.clear();
}

// Every mark_read waiting goes into one transaction, after the messages its room's owner ordered
// before it. Each publisher learns the stored value (never below what was stored before).
void StorageThread::commit_read_marks() {
  if (marks_.empty()) return;
  mark_batch_.clear();
  for (auto& [shard, m] : marks_) mark_batch_.push_back(ReadMark{m.user_id, m.origin.room, m.id});
  std::string error;
  const bool ok = store_->mark_read(mark_batch_, error);
  if (ok) {
    metrics_.commits.add();
  } else {
    metrics_.commit_failures.add();
    LOG_ERROR("storage_mark_read_failed", "marks=%zu error=\"%s\"", marks_.size(), error.c_str());
  }
  for (size_t i = 0; i < marks_.size(); ++i) {
    auto& [shard, m] = marks_[i];
    replies_[shard]->send(
        StoreMarkReadDone{std::move(m.origin), ok, ok ? mark_batch_[i].last_read_id : 0, error});
  }
  marks_.clear();
}

bool StorageThread::admit_delete(unsigned shard, StoreAppend& append) {
  // The check must see every earlier append (a message published and deleted in one batch, two
  // deletes of one message): commit them first. Deletes are rare; their batches stay small.
  commit_appends();
  proto::ChatMessage target;
  bool found = false;
  StoreAppendDone refused{std::move(append.message), std::move(*append.origin), false, {}, {}};
  if (!store_->find_message(refused.message.room, refused.message.delete_target, target, found)) {
    refused.error = "storage unavailable";
  } else if (auto reason = delete_refusal(found, target, refused.origin); !reason.empty()) {
    refused.refused = reason;
  } else {
    append.message = std::move(refused.message);
    append.origin = std::move(refused.origin);
    return true;
  }
  replies_[shard]->send(std::move(refused));  // after the replies of the appends before it
  return false;
}

namespace {
// The range after_id+1..upto_id (at most max_count of it) is there, every id once, in order.
bool gapless(const std::vector<proto::ChatMessage>& got, int64_t after_id, int64_t upto_id,
             int max_count) {
  const int64_t want = std::min<int64_t>(upto_id - after_id, max_count);
  if (want <= 0) return true;
  if (static_cast<int64_t>(got.size()) != want) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].id != after_id + 1 + static_cast<int64_t>(i)) return false;
  }
  return true;
}
}  // namespace

void StorageThread::handle(unsigned shard, StorageRequest&& request) {
  metrics_.reads.add();
  std::visit(core::Overloaded{
                 [&](StoreCatchup& c) { replies_[shard]->send(read_catchup(std::move(c))); },
                 [&](StorePage& p) { replies_[shard]->send(read_page(std::move(p))); },
                 [&](StoreLoadRoom& l) { replies_[shard]->send(load_room(std::move(l))); },
                 [](StoreAppend&) {},    // batched by drain_once, never handled here
                 [](StoreMarkRead&) {},  // batched by drain_once, never handled here
             },
             request);
}

StoreCatchupDone StorageThread::read_catchup(StoreCatchup&& c) {
  StoreCatchupDone done{std::move(c), false, {}, false};
  const StoreCatchup& r = done.request;
  if (last_catchup_ && last_catchup_->same_range(r)) {
    // The same range, with no write since it was read (the memo lives within one batch of
    // requests, and a commit clears it): a mass rejoin reads it once.
    done.ok = true;
    done.messages = last_catchup_->messages;
    done.too_large = last_catchup_->too_large;
  } else {
    read_catchup_range(done);
    if (done.ok) {
      last_catchup_ = CatchupMemo{r.room,      r.after_id,     r.upto_id,    r.max_count,
                                  r.max_bytes, done.too_large, done.messages};
    }
  }
  if (done.ok && r.read_state_of) {  // the join reply's read state, same trip
    done.read_state_ok = store_->read_state(*r.read_state_of, r.room, r.upto_id, kMaxUnreadCount,
                                            done.last_read_id, done.unread);
  }
  return done;
}

void StorageThread::read_catchup_range(StoreCatchupDone& done) {
  const StoreCatchup& r = done.request;
  std::vector<proto::ChatMessage> messages;
  done.ok = store_->range(r.room, r.after_id, r.upto_id, r.max_count, messages);
  if (!done.ok) return;
  // This thread reads one catch-up at a time, so an oversized one costs memory only here,
  // briefly; it never crosses to a shard nor gets encoded.
  // recovered: true promises every id after last_seen_id, no gap: a range with a hole (trimmed
  // by retention, or lost with Redis's data) cannot keep it.
  const bool whole = gapless(messages, r.after_id, r.upto_id, r.max_count);
  // Then (the ids were whole): a delete event whose target is in the range is already there as a
  // tombstone; only those of older messages are replayed (as msg_deleted).
  std::erase_if(messages, [after = r.after_id](const proto::ChatMessage& m) {
    return m.delete_target > after;
  });
  if (!whole || (r.max_bytes && estimated_page_bytes(messages) > r.max_bytes)) {
    done.too_large = true;
    return;
  }
  done.messages = std::move(messages);
}

StorePageDone StorageThread::read_page(StorePage&& p) {
  StorePageDone done{std::move(p), false, false, false, {}};
  done.room_exists = store_->room_exists(done.request.room);
  done.ok = store_->page(done.request.room, done.request.before_id, done.request.limit,
                         done.messages, done.has_more);
  cap_page_bytes(done.messages, done.has_more, kMaxPageBytes);
  return done;
}

StoreRoomLoaded StorageThread::load_room(StoreLoadRoom&& l) {
  StoreRoomLoaded done{std::move(l.room), false, 0};
  done.ok = store_->last_id(done.room, done.last_id);
  if (!done.ok) LOG_ERROR("storage_load_room_failed", "room=%s", done.room.c_str());
  return done;
}

}  // namespace rtchat::server
