// The reactor's clock: the once-a-second sweep of every connection's deadline, the drain, and
// the close state machine Closing -> Lingering -> Dead (socket shut down, closed, slot released).
#include <malloc.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/heap_policy.h"
#include "proto/jwt.h"
#include "server/log.h"
#include "server/shard/reactor.h"

namespace rtchat::server {
namespace {

constexpr int64_t kCloseFlushMs = 5000;  // a closing client gets this long to read its last bytes
// After our last byte (close frame, HTTP response) we shut down writing and keep reading for this
// long: closing with unread input would make the kernel send a reset that can destroy the close
// frame or error replies still in flight to the client.
constexpr int64_t kLingerMs = 2000;
// Once the final close is submitted, cancel + shutdown complete every request on the socket
// within a turn; past this, the cancels are sent again (and counted) rather than waited on.
constexpr int64_t kDeadRetryMs = 2000;
// Many wslay contexts went back to malloc at once (a burst went idle): give the pages back to
// the kernel so RSS reflects the idle footprint.
constexpr size_t kTrimAfterReleases = 256;
// Often enough that an idle server's RSS follows its live data a few seconds after a storm.
constexpr int64_t kReleaseEveryMs = 5000;

}  // namespace

bool Reactor::tick(bool stopping) {
  int64_t now = core::mono_millis();
  if (stopping && !draining_) begin_drain();
  if (now >= next_sweep_ms_) {
    sweep(now);
    next_sweep_ms_ = now + kSweepEveryMs;
  }
  return draining_ && (table_.live() == 0 || now >= drain_deadline_ms_);
}

void Reactor::sweep(int64_t now_ms) {
  if (!draining_) arm_accepts();  // those an error left unarmed
  int64_t now_s = core::unix_millis() / 1000;
  size_t released = 0;
  for (auto& slot : table_.slots()) {
    if (slot) released += sweep_one(*slot, now_ms, now_s) ? 1 : 0;
  }
  if (released >= kTrimAfterReleases) malloc_trim(0);
  release_heap_if_due(now_ms);
}

// Every kReleaseEveryMs while the shard is steady (the connection count held still for the whole
// period: during a storm the pages would be faulted back at once, and malloc_trim holds each
// arena's lock while it walks it): the shard's receive buffers go back to the kernel (a storm
// touched every one of them), and shard 0 trims the heap for the whole process.
void Reactor::release_heap_if_due(int64_t now_ms) {
  if (now_ms < next_release_ms_) return;
  next_release_ms_ = now_ms + kReleaseEveryMs;
  const bool steady = table_.live() == connections_at_last_release_check_;
  connections_at_last_release_check_ = table_.live();
  if (!steady) return;
  buffers_->publish();  // every buffer is the kernel's (recycled this turn) before the release
  buffers_->release_pages();
  if (index_ == 0) core::release_free_heap();
}

// One connection's deadlines. True when the session freed idle state (counted for malloc_trim).
bool Reactor::sweep_one(Connection& c, int64_t now_ms, int64_t now_s) {
  switch (c.phase) {
    case Phase::Http:
      if (now_ms > c.deadline_ms) abort(c);  // slowloris: no answer owed
      return false;
    case Phase::WebSocket:
      if (now_ms - c.last_rx_ms > int64_t{config_.heartbeat_timeout_s} * 1000) {
        events_.close_session(c, Close::HeartbeatTimeout);
      } else if (proto::token_expired(c.claims.exp, now_s, config_.jwt_leeway_s)) {
        events_.close_session(c, Close::TokenExpired);
      } else {
        return events_.on_idle_tick(c);
      }
      return false;
    case Phase::Closing:
      // The client stopped reading: the in-flight send is cancelled and its bytes are dropped
      // once the kernel gives the iovecs back (on_send).
    case Phase::Lingering:
      if (now_ms > c.deadline_ms) submit_final_close(c);
      return false;
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
      return false;
  }
  return false;
}

void Reactor::begin_drain() {
  draining_ = true;
  drain_deadline_ms_ = core::mono_millis() + int64_t{config_.drain_timeout_s} * 1000;
  for (uint32_t i = 0; i < kAcceptsInFlight; ++i) {
    if (!accepts_[i].armed) continue;
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, core::OpTag{Op::kAccept, 0, i}.pack(), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{Op::kCancel, 0, 0}.pack());
  }
  for (auto& slot : table_.slots()) {
    if (!slot) continue;
    if (slot->phase == Phase::WebSocket) {
      events_.close_session(*slot, Close::GoingAway);
    } else if (slot->phase == Phase::Http) {
      abort(*slot);
    }
  }
}

// ---------------------------------------------------------------- the close state machine

void Reactor::close_after_flush(Connection& c) {
  if (c.phase == Phase::Closing || c.phase == Phase::Lingering || c.phase == Phase::Dead) return;
  events_.on_phase_end(c);
  c.phase = Phase::Closing;
  c.deadline_ms = core::mono_millis() + kCloseFlushMs;
  table_.mark_dirty(c);
}

void Reactor::abort(Connection& c) {
  if (c.phase == Phase::Dead) return;
  if (c.phase == Phase::Http || c.phase == Phase::WebSocket) events_.on_phase_end(c);
  // The peer is gone (EOF, reset) or the connection ran out of time: no more output. An
  // in-flight send is cancelled, and its frames stay alive until its completion.
  submit_final_close(c);
}

void Reactor::start_linger(Connection& c) {
  if (!c.recv_armed) {
    submit_final_close(c);
    return;
  }
  c.phase = Phase::Lingering;
  c.deadline_ms = core::mono_millis() + kLingerMs;
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_shutdown(sqe, c.file_index, SHUT_WR);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, tag(Op::kShutdown, c));
}

void Reactor::drop_output(Connection& c) {
  c.out.clear();
  give_back_send_state(c);
}

void Reactor::cancel_requests(Connection& c) {
  if (c.recv_armed) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, tag(Op::kRecv, c), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{Op::kCancel, 0, 0}.pack());
  }
  if (c.send_inflight) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, tag(Op::kSend, c), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{Op::kCancel, 0, 0}.pack());
  }
}

void Reactor::submit_final_close(Connection& c) {
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
  io_uring_sqe_set_data64(sqe, tag(Op::kShutdown, c));
  sqe = ring_->sqe();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.file_index));
  io_uring_sqe_set_data64(sqe, tag(Op::kClose, c));
}

}  // namespace rtchat::server
