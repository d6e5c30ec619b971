// The reactor half of a shard: ring setup, completions, the loop turn, timers, slots.
#include "server/shard/shard.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/affinity.h"
#include "core/clock.h"
#include "core/heap_policy.h"
#include "core/unique_fd.h"
#include "server/log.h"
#include "server/net/close_reasons.h"
#include "server/net/http_response.h"

namespace rtchat::server {
namespace {

enum Op : uint8_t { kAccept = 1, kRecv, kSend, kShutdown, kClose, kDoorbell, kCancel };

constexpr uint16_t kBufferGroup = 1;
// 2048 x 4 KiB = 8 MiB per shard. Chat frames are small and each buffer goes back to the ring as
// soon as its bytes are parsed, so the ring runs dry only when thousands of sockets deliver at
// the same instant; then recv ends with ENOBUFS and is re-armed at the end of the turn.
constexpr uint32_t kRecvBuffers = 2048;
constexpr uint32_t kRecvBufferBytes = 4096;
constexpr size_t kMailboxBatch = 1024;   // messages taken from one mailbox per turn (fairness)
constexpr int64_t kSweepEveryMs = 1000;  // coarse timers: one pass over the slots per second
// Often enough that an idle server's RSS follows its live data a few seconds after a storm;
// rarely enough that the walk of the free lists costs nothing measurable.
constexpr int64_t kTrimEveryMs = 5000;
constexpr int64_t kCloseFlushMs = 5000;  // a closing client gets this long to read its last bytes
// After our last byte (close frame, HTTP response) we shut down writing and keep reading for this
// long: closing with unread input would make the kernel send a reset that can destroy the close
// frame or error replies still in flight to the client.
constexpr int64_t kLingerMs = 2000;
// Once the final close is submitted, cancel + shutdown complete every request on the socket
// within a turn; past this, the cancels are sent again (and counted) rather than waited on.
constexpr int64_t kDeadRetryMs = 2000;

}  // namespace

Shard::Shard(unsigned index, SharedState& shared, int listen_fd)
    : index_(index),
      shared_(shared),
      config_(*shared.config),
      listen_fd_(listen_fd),
      owner_(index, config_.effective_shards()) {
  owner_.set_pacing(PresencePacing{.per_member_us = config_.presence_pace_us_per_member});
}

Shard::~Shard() = default;

// Every kTrimEveryMs while the shard is steady: its receive buffers go back to the kernel (a storm
// touched every one of them), and shard 0 trims the heap for the whole process (malloc_trim covers
// every arena): the whole free pages a storm left between idle connections' blocks go back too.
void Shard::release_heap_if_due(int64_t now_ms) {
  if (now_ms < next_trim_ms_) return;
  next_trim_ms_ = now_ms + kTrimEveryMs;
  // Only once the connection count held still for a whole period: during a storm the pages would
  // be faulted back in at once, and malloc_trim holds each arena's lock while it walks it.
  const bool steady = live_connections_ == connections_at_last_trim_check_;
  connections_at_last_trim_check_ = live_connections_;
  if (!steady) return;
  buffers_->publish();  // every buffer is the kernel's (recycled this turn) before the release
  buffers_->release_pages();
  if (index_ == 0) core::release_free_heap();
}

void Shard::wire(const ShardWiring& wiring) {
  wiring_ = wiring;
  for (auto* mb : wiring_.outbox_to) {
    outboxes_.push_back(mb ? std::make_unique<core::Outbox<ShardMessage>>(*mb) : nullptr);
  }
  storage_outbox_ = std::make_unique<core::Outbox<StorageRequest>>(*wiring_.to_storage);
}

void Shard::setup_ring() {
  core::pin_current_thread(index_);
  ring_ = std::make_unique<core::Ring>(core::RingConfig{});
  buffers_ = std::make_unique<core::BufferRing>(ring_->get(), kBufferGroup, kRecvBuffers,
                                                kRecvBufferBytes);
  slots_.reserve(1024);
}

void Shard::arm_accept() {
  if (listen_fd_ < 0) return;
  io_uring_sqe* sqe = ring_->sqe();
  // Multishot accept into a process fd, which on_accept moves into the ring's registered-file
  // table at once (and closes): live sockets hold no process fd, so each shard can keep ~20k of
  // them under this machine's RLIMIT_NOFILE, and we still learn the peer address (accept_direct
  // would hide it) for the per-IP limit.
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, core::OpTag{kAccept, 0, 0}.pack());
  accept_armed_ = true;
}

void Shard::arm_doorbell() {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_read(sqe, doorbell_.fd(), &doorbell_value_, sizeof doorbell_value_, 0);
  io_uring_sqe_set_data64(sqe, core::OpTag{kDoorbell, 0, 0}.pack());
}

void Shard::arm_recv(Connection& c) {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_recv_multishot(sqe, c.file_index, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, core::OpTag{kRecv, c.ref.generation, c.ref.slot}.pack());
  c.recv_armed = true;
  c.rearm_recv = false;
}

void Shard::run() {
  setup_ring();
  arm_accept();
  arm_doorbell();
  shared_.shards_running.fetch_add(1);
  next_sweep_ms_ = core::mono_millis() + kSweepEveryMs;

  for (;;) {
    bool worked = false;
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring_->get(), head, cqe) {
      handle_cqe(*cqe);
      ++seen;
    }
    if (seen) {
      io_uring_cq_advance(ring_->get(), seen);
      worked = true;
    }
    worked |= poll_mailboxes();
    end_of_turn();

    int64_t now = core::mono_millis();
    if (shared_.stopping.load(std::memory_order_relaxed) && !draining_) begin_drain();
    if (now >= next_sweep_ms_) {
      sweep(now);
      next_sweep_ms_ = now + kSweepEveryMs;
    }
    if (draining_ && (live_connections_ == 0 || now >= drain_deadline_ms_)) break;

    if (worked) {
      // With DEFER_TASKRUN completions are posted only when we enter with GETEVENTS: submit and
      // collect in one call, without blocking.
      ring_->submit_and_wait(0);
      continue;
    }
    // Nothing to do: announce the sleep, look at the mailboxes once more, then block in the
    // kernel until a completion, a doorbell or the next timer tick.
    bool backlog = storage_outbox_->backlog() > 0;
    for (auto& o : outboxes_) backlog |= o && o->backlog() > 0;
    // The next wake: a sweep, or a room's paced presence diff (presence_pacing.h).
    const int64_t next_ms = std::min(next_sweep_ms_, owner_.next_diff_due_ms());
    int wait_ms = backlog ? 1 : static_cast<int>(std::max<int64_t>(1, next_ms - now));
    const bool slept = doorbell_.sleep_unless_pending(
        [&] {
          bool pending = !self_queue_.empty();
          for (auto* mb : wiring_.inbox_from) pending |= mb && mb->size_approx() > 0;
          return !pending && wiring_.from_storage->size_approx() == 0;
        },
        [&] { ring_->submit_and_wait(wait_ms); });
    if (!slept) ring_->submit_and_wait(0);  // submit what this turn queued
  }
  // Leave the loop with every remaining socket closed (drain deadline passed).
  for (auto& slot : slots_) {
    if (slot && slot->phase != Phase::Dead && slot->file_index >= 0) {
      io_uring_sqe* sqe = ring_->sqe();
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(slot->file_index));
      io_uring_sqe_set_data64(sqe, 0);
    }
  }
  ring_->submit();
  shared_.shards_running.fetch_sub(1);
}

void Shard::handle_cqe(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  switch (tag.op) {
    case kAccept:
      on_accept(cqe);
      break;
    case kRecv:
      on_recv(cqe);
      break;
    case kSend:
      on_send(cqe);
      break;
    case kClose:
      on_close_done(cqe);
      break;
    case kDoorbell:
      if (!draining_ || cqe.res > 0) arm_doorbell();
      break;
    default:
      break;  // shutdown, cancel: nothing to do
  }
}

void Shard::on_accept(const io_uring_cqe& cqe) {
  if (!(cqe.flags & IORING_CQE_F_MORE)) accept_armed_ = false;  // re-armed by the sweep
  if (cqe.res < 0) {
    // EMFILE/ENFILE: out of descriptors. Count it; the sweep re-arms accept (the kernel keeps
    // further clients in the listen backlog meanwhile).
    metrics_.accept_errors.add();
    LOG_WARN("accept_failed", "shard=%u error=\"%s\"", index_, std::strerror(-cqe.res));
    return;
  }
  core::UniqueFd fd(cqe.res);
  if (draining_) return;
  std::string ip = peer_address(fd.get());
  if (!shared_.sockets_per_ip.try_acquire(ip, config_.max_conns_per_ip)) {
    metrics_.upgrades_rejected.add();
    refuse_unregistered(fd.get(), 429, "too many connections from this address\n");
    return;
  }
  // The slot allocate() will hand out is also the connection's index in the file table.
  uint32_t slot = free_slots_.empty() ? static_cast<uint32_t>(slots_.size()) : free_slots_.back();
  int raw = fd.get();
  if (slot >= ring_->direct_files() ||
      io_uring_register_files_update(ring_->get(), slot, &raw, 1) != 1) {
    shared_.sockets_per_ip.release(ip);
    metrics_.accept_errors.add();
    refuse_unregistered(fd.get(), 503, "server full, retry\n");
    return;
  }
  fd.reset();  // the table holds its own reference now
  Connection& c = allocate(static_cast<int>(slot));
  c.peer_ip = std::move(ip);
  metrics_.connections_accepted.add();
  ++http_connections_;
  c.deadline_ms = core::mono_millis() + config_.handshake_timeout_s * 1000;
  c.http = std::make_unique<HttpRequestParser>(config_.max_header_bytes);
  arm_recv(c);
  if (config_.max_pending_handshakes && http_connections_ > config_.max_pending_handshakes) {
    // A reconnect storm: answer at once instead of letting handshakes time out in a queue. The
    // phoenix client retries with its backoff (the UI adds jitter).
    metrics_.upgrades_rejected.add();
    respond(c, http_response(503, "text/plain", "server busy, retry\n", "Retry-After: 1\r\n"));
  }
}

void Shard::on_recv(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = lookup(tag.slot, tag.generation);
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  auto bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (c && cqe.res > 0 && has_buffer) {
    auto bytes = buffers_->view(bid, static_cast<size_t>(cqe.res));
    metrics_.bytes_in.add(static_cast<uint64_t>(cqe.res));
    c->last_rx_ms = core::mono_millis();
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (c->phase == Phase::Http && c->http) {  // no parser: a request is being answered
      on_http_bytes(*c, text);
    } else if (c->phase == Phase::WebSocket) {
      on_ws_bytes(*c, text);
    }
  }
  // Always recycle the buffer, whatever became of the connection (liburing's echo example).
  if (has_buffer) buffers_->recycle(bid);
  if (!c) return;
  if (!(cqe.flags & IORING_CQE_F_MORE)) {
    c->recv_armed = false;
    if (cqe.res == -ENOBUFS && c->phase != Phase::Dead) {
      c->rearm_recv = true;  // the ring ran dry: try again once buffers are back
      mark_dirty(*c);
      return;
    }
  }
  if (cqe.res == 0 && c->phase == Phase::Closing) {
    // The peer finished sending (half-close) but may still read what we owe it: keep flushing,
    // bounded by the Closing deadline like any other reader.
  } else if (cqe.res == 0 || (cqe.res < 0 && cqe.res != -ENOBUFS)) {
    abort_connection(*c);  // EOF or reset: the peer is gone
  }
  if (c->phase == Phase::Dead) release(*c);  // last use of c: release may free it
}

void Shard::on_send(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = lookup(tag.slot, tag.generation);
  if (!c) return;
  c->send_inflight = false;
  if (cqe.res > 0) metrics_.bytes_out.add(static_cast<uint64_t>(cqe.res));
  if (c->phase == Phase::Dead) {
    // Cancelled, cut short by the shutdown, or done: either way the kernel no longer reads the
    // iovecs, so the frames they point into may go now and not before.
    drop_output(*c);
    release(*c);
    return;
  }
  if (cqe.res < 0) {
    abort_connection(*c);
    return;
  }
  c->out.consume(static_cast<size_t>(cqe.res));
  if (c->out.empty()) c->send.reset();
  if (!c->out.empty() || c->phase == Phase::Closing) mark_dirty(*c);
}

void Shard::on_close_done(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = lookup(tag.slot, tag.generation);
  if (!c) return;
  c->close_done = true;
  release(*c);
}

bool Shard::poll_mailboxes() {
  bool worked = false;
  if (!self_queue_.empty()) {
    std::deque<ShardMessage> local;
    local.swap(self_queue_);
    for (auto& msg : local) dispatch(std::move(msg));
    worked = true;
  }
  ShardMessage m;
  for (auto* mb : wiring_.inbox_from) {
    if (!mb) continue;
    for (size_t i = 0; i < kMailboxBatch && mb->try_pop(m); ++i) {
      dispatch(std::move(m));
      worked = true;
    }
  }
  StorageReply r;
  for (size_t i = 0; i < kMailboxBatch && wiring_.from_storage->try_pop(r); ++i) {
    dispatch_storage(std::move(r));
    worked = true;
  }
  return worked;
}

void Shard::end_of_turn() {
  answer_turn_joins();  // before the diffs: a joiner's state comes before the diff of its join
  flush_presence_diffs();
  // Connections that passed their outbound cap this turn (queue_frame): closed here, outside
  // the loops that found them (a close leaves rooms, which edits the member lists they walk).
  for (const ConnRef& ref : too_slow_) {
    Connection* c = lookup(ref);
    if (!c || c->phase != Phase::WebSocket) continue;
    metrics_.slow_consumer_closes.add();
    close_with(*c, Close::TooSlow);
  }
  too_slow_.clear();
  // One gathered send per connection with pending output (corking).
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection* c = slots_[dirty_[i]].get();
    if (!c) continue;
    c->dirty = false;
    flush_connection(*c);
  }
  dirty_.clear();
  buffers_->publish();
  uint64_t backlog = storage_outbox_->backlog();
  for (auto& o : outboxes_) {
    if (!o) continue;
    o->flush();
    backlog += o->backlog();
  }
  storage_outbox_->flush();
  metrics_.mailbox_backlog.set(backlog);
  metrics_.rooms_owned.set(owner_.room_count());
}

void Shard::flush_connection(Connection& c) {
  if (c.phase == Phase::Dead) return;
  if (c.rearm_recv && !c.recv_armed && c.phase != Phase::Closing) arm_recv(c);
  if (c.send_inflight) return;
  if (!c.out.empty()) {
    if (!c.send) c.send = std::make_unique<Connection::SendState>();
    size_t n = c.out.gather(c.send->iov);
    c.send->msg = msghdr{};
    c.send->msg.msg_iov = c.send->iov;
    c.send->msg.msg_iovlen = n;
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_sendmsg(sqe, c.file_index, &c.send->msg, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, core::OpTag{kSend, c.ref.generation, c.ref.slot}.pack());
    c.send_inflight = true;
    return;
  }
  if (c.phase == Phase::Closing) start_linger(c);
}

void Shard::start_linger(Connection& c) {
  if (!c.recv_armed) {
    submit_final_close(c);
    return;
  }
  c.phase = Phase::Lingering;
  c.deadline_ms = core::mono_millis() + kLingerMs;
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_shutdown(sqe, c.file_index, SHUT_WR);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, core::OpTag{kShutdown, c.ref.generation, c.ref.slot}.pack());
}

void Shard::sweep(int64_t now_ms) {
  if (!accept_armed_ && !draining_) arm_accept();
  owner_.prune_join_budgets(now_ms);
  release_heap_if_due(now_ms);
  int64_t now_s = core::unix_millis() / 1000;
  size_t released = 0;
  for (auto& slot : slots_) {
    if (!slot) continue;
    Connection& c = *slot;
    switch (c.phase) {
      case Phase::Http:
        if (now_ms > c.deadline_ms) abort_connection(c);  // slowloris: no answer owed
        break;
      case Phase::WebSocket:
        if (now_ms - c.last_rx_ms > int64_t{config_.heartbeat_timeout_s} * 1000) {
          close_with(c, Close::HeartbeatTimeout);
        } else if (token_expired(c.claims, now_s, config_.jwt_leeway_s)) {
          close_with(c, Close::TokenExpired);
        } else {
          released += release_idle_wslay(c) ? 1 : 0;
          c.prune_join_budgets(now_ms);  // an idle socket keeps no join budget table
          if (!c.send_inflight) c.out.release_if_empty();
        }
        break;
      case Phase::Closing:
        // The client stopped reading: the in-flight send is cancelled and its bytes are dropped
        // once the kernel gives the iovecs back (on_send).
        if (now_ms > c.deadline_ms) submit_final_close(c);
        break;
      case Phase::Lingering:
        if (now_ms > c.deadline_ms) submit_final_close(c);
        break;
      case Phase::Dead:
        // Cancel and shutdown end every request on the socket at once; this only repeats them
        // should a completion be late, so no slot waits for a peer forever.
        if (now_ms > c.deadline_ms && (c.send_inflight || c.recv_armed)) {
          metrics_.late_completions.add();
          LOG_WARN("late_completion", "shard=%u slot=%u send=%d recv=%d", index_, c.ref.slot,
                   c.send_inflight, c.recv_armed);
          cancel_requests(c);
          c.deadline_ms = now_ms + kDeadRetryMs;
        }
        break;
    }
  }
  // Many wslay contexts went back to malloc at once (a burst went idle): give the pages back
  // to the kernel so RSS reflects the idle footprint.
  if (released >= 256) malloc_trim(0);
}

void Shard::begin_drain() {
  draining_ = true;
  drain_deadline_ms_ = core::mono_millis() + int64_t{config_.drain_timeout_s} * 1000;
  if (listen_fd_ >= 0) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, core::OpTag{kAccept, 0, 0}.pack(), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
  }
  for (auto& slot : slots_) {
    if (!slot) continue;
    if (slot->phase == Phase::WebSocket) {
      close_with(*slot, Close::GoingAway);
    } else if (slot->phase == Phase::Http) {
      abort_connection(*slot);
    }
  }
}

std::string Shard::peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  char text[INET6_ADDRSTRLEN] = "?";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    if (addr.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
    } else if (addr.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

void Shard::refuse_unregistered(int fd, int status, std::string_view body) {
  // Best effort on a socket we will not keep: one non-blocking send of a short answer.
  std::string response = http_response(status, "text/plain", body, "Retry-After: 5\r\n");
  [[maybe_unused]] auto n =
      ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// ---------------------------------------------------------------- slots

Connection& Shard::allocate(int file_index) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    generations_.push_back(0);
  }
  auto c = std::make_unique<Connection>();
  c->ref = ConnRef{index_, slot, generations_[slot]};
  c->file_index = file_index;
  c->last_rx_ms = core::mono_millis();
  c->tokens = config_.rate_burst;
  c->tokens_at_ms = c->last_rx_ms;
  slots_[slot] = std::move(c);
  ++live_connections_;
  metrics_.connections_open.set(live_connections_);
  return *slots_[slot];
}

Connection* Shard::lookup(uint32_t slot, uint32_t generation) {
  if (slot >= slots_.size() || !slots_[slot]) return nullptr;
  Connection* c = slots_[slot].get();
  return (c->ref.generation & 0xFFFFFFu) == (generation & 0xFFFFFFu) ? c : nullptr;
}

Connection* Shard::lookup(const ConnRef& ref) {
  return ref.shard == index_ ? lookup(ref.slot, ref.generation) : nullptr;
}

void Shard::release(Connection& c) {
  // The slot is reused only when no SQE refers to it any more (STYLE.md section 3).
  if (c.phase != Phase::Dead || !c.close_done || c.recv_armed || c.send_inflight) return;
  shared_.sockets_per_ip.release(c.peer_ip);
  uint32_t slot = c.ref.slot;
  generations_[slot] = (generations_[slot] + 1) & 0xFFFFFFu;
  slots_[slot].reset();
  free_slots_.push_back(slot);
  --live_connections_;
  metrics_.connections_open.set(live_connections_);
}

// ---------------------------------------------------------------- lifecycle

void Shard::mark_dirty(Connection& c) {
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(c.ref.slot);
  }
}

void Shard::queue_frame(Connection& c, core::SharedFrame frame) {
  if (c.phase != Phase::WebSocket && c.phase != Phase::Http) return;
  // Past the cap nothing more is queued: the connection is closed with 4008 at the end of this
  // turn, after the frames it already has, so what it read is a prefix of its stream with no
  // hole and it resumes from last_seen_id. Counting here, at enqueue time, bounds every byte a
  // connection can make the server hold (replies, history pages, presence state, broadcasts) to
  // the cap plus one frame, however fast the frames arrive within one turn.
  if (c.is_too_slow) return;
  c.out.push(std::move(frame));
  if (c.phase == Phase::WebSocket && c.out.bytes() > config_.outbound_cap_bytes) {
    c.is_too_slow = true;
    too_slow_.push_back(c.ref);
  }
  mark_dirty(c);
}

void Shard::close_after_flush(Connection& c) {
  if (c.phase == Phase::Closing || c.phase == Phase::Lingering || c.phase == Phase::Dead) return;
  end_websocket(c);
  c.phase = Phase::Closing;
  c.deadline_ms = core::mono_millis() + kCloseFlushMs;
  mark_dirty(c);
}

void Shard::close_with(Connection& c, Close which) {
  CloseSpec spec = close_spec(which);
  close_websocket(c, static_cast<uint16_t>(spec.code), spec.reason);
}

void Shard::close_websocket(Connection& c, uint16_t code, std::string_view reason) {
  if (c.phase != Phase::WebSocket) return;
  metrics_.count_close(code);
  LOG_DEBUG("ws_close", "shard=%u slot=%u code=%u reason=\"%.*s\"", index_, c.ref.slot, code,
            static_cast<int>(reason.size()), reason.data());
  // The close frame goes after everything already queued (close-after-reply).
  c.out.push(make_close_frame(code, reason));
  // We may be inside wslay_event_recv (a message callback): stop wslay, free it later.
  if (c.ws) {
    wslay_event_shutdown_read(c.ws.get());
    wslay_event_shutdown_write(c.ws.get());
  }
  close_after_flush(c);
}

void Shard::abort_connection(Connection& c) {
  if (c.phase == Phase::Dead) return;
  end_websocket(c);  // nothing to do once Closing or Lingering
  // The peer is gone (EOF, reset) or the connection ran out of time: no more output. An
  // in-flight send is cancelled, and its frames stay alive until its completion.
  submit_final_close(c);
}

void Shard::drop_output(Connection& c) {
  c.out.clear();
  c.send.reset();
}

void Shard::cancel_requests(Connection& c) {
  if (c.recv_armed) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, core::OpTag{kRecv, c.ref.generation, c.ref.slot}.pack(), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
  }
  if (c.send_inflight) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, core::OpTag{kSend, c.ref.generation, c.ref.slot}.pack(), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
  }
}

void Shard::submit_final_close(Connection& c) {
  if (c.phase == Phase::Dead) return;
  c.phase = Phase::Dead;
  c.deadline_ms = core::mono_millis() + kDeadRetryMs;
  c.ws.reset();
  c.http.reset();
  // A send the kernel still holds keeps its iovecs (and the frames behind them) until its
  // completion arrives in on_send; only output no request refers to is freed now.
  if (!c.send_inflight) drop_output(c);
  cancel_requests(c);
  // shutdown then close, hard-linked so the close runs even when shutdown fails (peer gone).
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_shutdown(sqe, c.file_index, SHUT_RDWR);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
  io_uring_sqe_set_data64(sqe, core::OpTag{kShutdown, c.ref.generation, c.ref.slot}.pack());
  sqe = ring_->sqe();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.file_index));
  io_uring_sqe_set_data64(sqe, core::OpTag{kClose, c.ref.generation, c.ref.slot}.pack());
}

void Shard::end_websocket(Connection& c) {
  if (c.phase == Phase::Http) {
    --http_connections_;
    return;
  }
  if (c.phase != Phase::WebSocket) return;
  metrics_.websockets_open.decrement();
  if (c.counts_as_user_socket) {
    shared_.sockets_per_user.release(c.claims.sub);
    c.counts_as_user_socket = false;
  }
  leave_all_channels(c);
}

void Shard::leave_all_channels(Connection& c) {
  for (auto& ch : c.channels) {
    std::string room(ch.room());
    if (ch.is_joined) remove_local_member(room, c.ref);
    const unsigned owner = owner_shard(room, config_.effective_shards());
    send_to_shard(owner, LeaveRoom{std::move(room), c.ref});
  }
  c.channels.clear();
  c.held_bytes = 0;
}

}  // namespace rtchat::server
