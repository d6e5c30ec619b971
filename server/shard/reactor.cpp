#include "server/shard/reactor.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/affinity.h"
#include "core/clock.h"
#include "core/unique_fd.h"
#include "server/auth/jwt.h"
#include "server/log.h"
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
constexpr int64_t kSweepEveryMs = 1000;  // coarse timers: one pass over the slots per second
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

uint64_t tag_of(Op op, const Connection& c) {
  return core::OpTag{op, c.ref.generation, c.ref.slot}.pack();
}

}  // namespace

Reactor::Reactor(unsigned index, const ServerConfig& config, int listen_fd, ConnectionTable& table,
                 ShardMetrics& metrics, core::KeyedCounters& sockets_per_ip, ReactorEvents& events)
    : index_(index),
      config_(config),
      listen_fd_(listen_fd),
      table_(table),
      metrics_(metrics),
      sockets_per_ip_(sockets_per_ip),
      events_(events) {}

Reactor::~Reactor() = default;

void Reactor::start(core::Doorbell& doorbell) {
  doorbell_ = &doorbell;
  core::pin_current_thread(index_);
  ring_ = std::make_unique<core::Ring>(core::RingConfig{});
  buffers_ = std::make_unique<core::BufferRing>(ring_->get(), kBufferGroup, kRecvBuffers,
                                                kRecvBufferBytes);
  arm_accept();
  arm_doorbell();
  next_sweep_ms_ = core::mono_millis() + kSweepEveryMs;
}

void Reactor::arm_accept() {
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

void Reactor::arm_doorbell() {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_read(sqe, doorbell_->fd(), &doorbell_value_, sizeof doorbell_value_, 0);
  io_uring_sqe_set_data64(sqe, core::OpTag{kDoorbell, 0, 0}.pack());
}

void Reactor::arm_recv(Connection& c) {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_recv_multishot(sqe, c.file_index, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, tag_of(kRecv, c));
  c.recv_armed = true;
  c.rearm_recv = false;
}

bool Reactor::reap() {
  io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    handle_cqe(*cqe);
    ++seen;
  }
  if (seen) io_uring_cq_advance(ring_->get(), seen);
  return seen > 0;
}

void Reactor::submit_and_wait(int wait_ms) { ring_->submit_and_wait(wait_ms); }

bool Reactor::tick(bool stopping) {
  int64_t now = core::mono_millis();
  if (stopping && !draining_) begin_drain();
  if (now >= next_sweep_ms_) {
    sweep(now);
    next_sweep_ms_ = now + kSweepEveryMs;
  }
  return draining_ && (table_.live() == 0 || now >= drain_deadline_ms_);
}

void Reactor::close_all() {
  for (auto& slot : table_.slots()) {
    if (slot && slot->phase != Phase::Dead && slot->file_index >= 0) {
      io_uring_sqe* sqe = ring_->sqe();
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(slot->file_index));
      io_uring_sqe_set_data64(sqe, 0);
    }
  }
  ring_->submit();
}

void Reactor::handle_cqe(const io_uring_cqe& cqe) {
  switch (core::OpTag::unpack(cqe.user_data).op) {
    case kAccept:
      return on_accept(cqe);
    case kRecv:
      return on_recv(cqe);
    case kSend:
      return on_send(cqe);
    case kClose:
      return on_close_done(cqe);
    case kDoorbell:
      if (!draining_ || cqe.res > 0) arm_doorbell();
      return;
    default:
      return;  // shutdown, cancel: nothing to do
  }
}

void Reactor::on_accept(const io_uring_cqe& cqe) {
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
  if (!register_socket(fd.get(), ip)) return;
  fd.reset();  // the table holds its own reference now
  Connection& c = table_.allocate(static_cast<int>(table_.next_slot()));
  c.peer_ip = std::move(ip);
  metrics_.connections_accepted.add();
  table_.http_opened();
  c.deadline_ms = core::mono_millis() + config_.handshake_timeout_s * 1000;
  c.http = std::make_unique<HttpRequestParser>(config_.max_header_bytes);
  arm_recv(c);
  events_.on_accepted(c);
}

// Counts the peer address and puts the socket in the ring's file table at the slot allocate()
// will hand out; refuses the client (and returns false) when either is full.
bool Reactor::register_socket(int fd, std::string& ip) {
  if (!sockets_per_ip_.try_acquire(ip, config_.max_conns_per_ip)) {
    metrics_.upgrades_rejected.add();
    refuse_unregistered(fd, 429, "too many connections from this address\n");
    return false;
  }
  uint32_t slot = table_.next_slot();
  if (slot >= ring_->direct_files() ||
      io_uring_register_files_update(ring_->get(), slot, &fd, 1) != 1) {
    sockets_per_ip_.release(ip);
    metrics_.accept_errors.add();
    refuse_unregistered(fd, 503, "server full, retry\n");
    return false;
  }
  return true;
}

void Reactor::on_recv(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = table_.lookup(tag.slot, tag.generation);
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  auto bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (c && cqe.res > 0 && has_buffer) {
    auto bytes = buffers_->view(bid, static_cast<size_t>(cqe.res));
    metrics_.bytes_in.add(static_cast<uint64_t>(cqe.res));
    c->last_rx_ms = core::mono_millis();
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (c->phase == Phase::Http && c->http) {  // no parser: a request is being answered
      events_.on_http_bytes(*c, text);
    } else if (c->phase == Phase::WebSocket) {
      events_.on_ws_bytes(*c, text);
    }
  }
  // Always recycle the buffer, whatever became of the connection (liburing's echo example).
  if (has_buffer) buffers_->recycle(bid);
  if (!c) return;
  if (!(cqe.flags & IORING_CQE_F_MORE)) {
    c->recv_armed = false;
    if (cqe.res == -ENOBUFS && c->phase != Phase::Dead) {
      c->rearm_recv = true;  // the ring ran dry: try again once buffers are back
      table_.mark_dirty(*c);
      return;
    }
  }
  if (cqe.res == 0 && c->phase == Phase::Closing) {
    // The peer finished sending (half-close) but may still read what we owe it: keep flushing,
    // bounded by the Closing deadline like any other reader.
  } else if (cqe.res == 0 || (cqe.res < 0 && cqe.res != -ENOBUFS)) {
    abort(*c);  // EOF or reset: the peer is gone
  }
  if (c->phase == Phase::Dead) table_.release(*c);  // last use of c: release may free it
}

void Reactor::on_send(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = table_.lookup(tag.slot, tag.generation);
  if (!c) return;
  c->send_inflight = false;
  if (cqe.res > 0) metrics_.bytes_out.add(static_cast<uint64_t>(cqe.res));
  if (c->phase == Phase::Dead) {
    // Cancelled, cut short by the shutdown, or done: either way the kernel no longer reads the
    // iovecs, so the frames they point into may go now and not before.
    drop_output(*c);
    table_.release(*c);
    return;
  }
  if (cqe.res < 0) {
    abort(*c);
    return;
  }
  c->out.consume(static_cast<size_t>(cqe.res));
  if (c->out.empty()) c->send.reset();
  if (!c->out.empty() || c->phase == Phase::Closing) table_.mark_dirty(*c);
}

void Reactor::on_close_done(const io_uring_cqe& cqe) {
  core::OpTag tag = core::OpTag::unpack(cqe.user_data);
  Connection* c = table_.lookup(tag.slot, tag.generation);
  if (!c) return;
  c->close_done = true;
  table_.release(*c);
}

void Reactor::flush() {
  auto& dirty = table_.dirty();
  for (size_t i = 0; i < dirty.size(); ++i) {
    Connection* c = table_.slots()[dirty[i]].get();
    if (!c) continue;
    c->dirty = false;
    flush_connection(*c);
  }
  dirty.clear();
  buffers_->publish();
}

void Reactor::flush_connection(Connection& c) {
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
    io_uring_sqe_set_data64(sqe, tag_of(kSend, c));
    c.send_inflight = true;
    return;
  }
  if (c.phase == Phase::Closing) start_linger(c);
}

void Reactor::sweep(int64_t now_ms) {
  if (!accept_armed_ && !draining_) arm_accept();
  int64_t now_s = core::unix_millis() / 1000;
  size_t released = 0;
  for (auto& slot : table_.slots()) {
    if (slot) released += sweep_one(*slot, now_ms, now_s) ? 1 : 0;
  }
  if (released >= kTrimAfterReleases) malloc_trim(0);
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
      } else if (token_expired(c.claims, now_s, config_.jwt_leeway_s)) {
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
  if (listen_fd_ >= 0) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, core::OpTag{kAccept, 0, 0}.pack(), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
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
  io_uring_sqe_set_data64(sqe, tag_of(kShutdown, c));
}

void Reactor::drop_output(Connection& c) {
  c.out.clear();
  c.send.reset();
}

void Reactor::cancel_requests(Connection& c) {
  if (c.recv_armed) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, tag_of(kRecv, c), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
  }
  if (c.send_inflight) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_cancel64(sqe, tag_of(kSend, c), 0);
    io_uring_sqe_set_data64(sqe, core::OpTag{kCancel, 0, 0}.pack());
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
  io_uring_sqe_set_data64(sqe, tag_of(kShutdown, c));
  sqe = ring_->sqe();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.file_index));
  io_uring_sqe_set_data64(sqe, tag_of(kClose, c));
}

std::string Reactor::peer_address(int fd) {
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

void Reactor::refuse_unregistered(int fd, int status, std::string_view body) {
  // Best effort on a socket we will not keep: one non-blocking send of a short answer.
  std::string response = http_response(status, "text/plain", body, "Retry-After: 5\r\n");
  [[maybe_unused]] auto n =
      ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace rtchat::server
