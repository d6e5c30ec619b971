// The narrow interfaces between the shard's one-job types. The shard implements them over its
// mailboxes and its ring; the unit tests (tests/server/*_rooms_test.cpp, session_test.cpp)
// implement them over plain vectors, so no type but the reactor needs an io_uring.
#pragma once

#include <cstddef>

#include "server/messages/shard_message.h"
#include "server/messages/storage_messages.h"
#include "server/shard/connection.h"

namespace rtchat::server {

// Messages leaving this shard: to a shard (itself included), to the cluster link (the shard index
// just past the last shard) or to the storage thread.
class OutboundPort {
 public:
  virtual void send_to_shard(unsigned shard, ShardMessage&& message) = 0;
  virtual void send_to_storage(StorageRequest&& request) = 0;
  // The mailbox to `target` (another shard or the link) has more than `limit` messages waiting:
  // new work for it is refused with "overloaded". Never true for this shard itself.
  [[nodiscard]] virtual bool backlogged(unsigned target, size_t limit) const = 0;
  // The limit every client-driven message to a room's owner is held to (join, publish, delete,
  // typing, mark_read, the server API's publish): a stalled owner must not let another shard's
  // mailbox backlog grow without bound.
  static constexpr size_t kOwnerBacklogLimit = 65536;
  // The storage thread is behind: new reads and appends are refused with "overloaded".
  [[nodiscard]] virtual bool storage_overloaded() const = 0;

 protected:
  ~OutboundPort() = default;
};

// The socket side of a connection's end, implemented by the Reactor (the close state machine).
class SocketPort {
 public:
  // Everything queued so far is sent, then the socket is shut down (Closing -> Lingering -> Dead).
  virtual void close_after_flush(Connection& c) = 0;
  // The peer is gone or out of time: no more output, close now.
  virtual void abort(Connection& c) = 0;

 protected:
  ~SocketPort() = default;
};

}  // namespace rtchat::server
