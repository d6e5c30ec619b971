// The storage thread: the only thread that touches the disk. Shards hand it requests through
// SPSC mailboxes; it group-commits appends (every append waiting when a commit starts goes into
// that one transaction: no timer, so an idle server commits at once and a busy one batches) and
// answers each request on the mailbox back to the shard that sent it, in the order received.
#pragma once

#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "core/doorbell.h"
#include "core/mailbox.h"
#include "server/config.h"
#include "server/messages/storage_messages.h"
#include "server/metrics.h"
#include "server/storage/store.h"

namespace rtchat::server {

// A history page's size as JSON on the wire, estimated without encoding it (control characters
// escape to 6 bytes, quotes and backslashes to 2; ~100 bytes of keys, ids and timestamp each).
size_t estimated_page_bytes(const std::vector<proto::ChatMessage>& messages);
// Drops the oldest messages of a page (ascending ids) until its estimate fits max_bytes, keeping
// at least the newest one; sets has_more when anything was dropped, so the client pages on
// with before_id = the oldest id it got. Bounds the bytes one history request can queue.
void cap_page_bytes(std::vector<proto::ChatMessage>& messages, bool& has_more, size_t max_bytes);

class StorageThread {
 public:
  StorageThread(std::unique_ptr<Store> store, const ServerConfig& config, unsigned shards);
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;
  StorageThread(StorageThread&&) = delete;
  StorageThread& operator=(StorageThread&&) = delete;
  ~StorageThread();

  core::Doorbell& doorbell() { return doorbell_; }
  core::Mailbox<StorageRequest>& inbox(unsigned shard) { return *inboxes_[shard]; }
  // Wiring before start(): where replies for a shard go.
  void set_reply_mailbox(unsigned shard, core::Mailbox<StorageReply>& mailbox);
  // The cluster link's pair (cluster mode only; wiring before start()): a page of room floors
  // after a Redis data loss (Store::room_floors), answered on the link's mailbox.
  core::Mailbox<StoreRoomFloors>& floors_inbox() { return *floors_in_; }
  void set_floors_reply_mailbox(core::Mailbox<StoreRoomFloorsDone>& mailbox);
  void start();
  // Answers everything already queued, then stops (drain). Call after the shards have stopped.
  void stop();
  const StorageMetrics& metrics() const { return metrics_; }

 private:
  void run(std::stop_token stop);
  // Applies retention when its sweep (--retention-sweep-ms) is due; returns how long the idle
  // wait may last so the next sweep is not late by more than a wake-up.
  int sweep_retention_if_due(int64_t& next_sweep_ms);
  bool drain_once();
  void commit_appends();  // the messages, then the read marks, each in one transaction
  void commit_messages();
  void commit_read_marks();
  // delete_msg: checks a delete event against its stored target; a refused one is answered here
  // (false) and never committed.
  bool admit_delete(unsigned shard, StoreAppend& append);
  void handle(unsigned shard, StorageRequest&& request);  // a read: answered at once
  StoreCatchupDone read_catchup(StoreCatchup&& c);
  void read_catchup_range(StoreCatchupDone& done);
  StorePageDone read_page(StorePage&& p);
  StoreRoomLoaded load_room(StoreLoadRoom&& l);
  bool answer_floors();  // one request of the link at most per call (a page: bounded work)
  void flush_replies();

  std::unique_ptr<Store> store_;
  const ServerConfig& config_;
  core::Doorbell doorbell_;
  std::vector<std::unique_ptr<core::Mailbox<StorageRequest>>> inboxes_;
  std::vector<std::unique_ptr<core::Outbox<StorageReply>>> replies_;
  std::unique_ptr<core::Mailbox<StoreRoomFloors>> floors_in_;
  std::unique_ptr<core::Outbox<StoreRoomFloorsDone>> floors_out_;  // null: no cluster link
  std::vector<std::pair<unsigned, StoreAppend>> appends_;          // reused batch
  std::vector<proto::ChatMessage> batch_;
  std::vector<std::pair<unsigned, StoreMarkRead>> marks_;  // reused batch
  std::vector<ReadMark> mark_batch_;
  // The last catch-up range read in this batch (read_catchup): the next joiner recovering the
  // same range shares its messages instead of reading and copying them again.
  struct CatchupMemo {
    std::string room;
    int64_t after_id = 0;
    int64_t upto_id = 0;
    int max_count = 0;
    size_t max_bytes = 0;
    bool too_large = false;
    SharedMessages messages;
    [[nodiscard]] bool same_range(const StoreCatchup& c) const {
      return c.room == room && c.after_id == after_id && c.upto_id == upto_id &&
             c.max_count == max_count && c.max_bytes == max_bytes;
    }
  };
  std::optional<CatchupMemo> last_catchup_;
  StorageMetrics metrics_;
  std::jthread thread_;
};

}  // namespace rtchat::server
