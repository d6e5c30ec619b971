#include "server/shard/reactor.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/affinity.h"
#include "core/clock.h"
#include "proto/jwt.h"
#include "server/log.h"
#include "server/net/http_response.h"

namespace rtchat::server {
namespace {

constexpr uint16_t kBufferGroup = 1;
// Up to 2048 x 4 KiB = 8 MiB per shard. Chat frames are small and each buffer goes back to the
// ring as soon as its bytes are parsed, so the ring runs dry only when thousands of sockets
// deliver at the same instant; then recv ends with ENOBUFS, is re-armed at the end of the turn,
// and the ring holds twice as many buffers from then on. A steady shard falls back to 128 in the
// ring (512 KiB touched by its idle sockets' heartbeats, not all 8 MiB: core/buffer_ring.h).
constexpr uint32_t kRecvBuffers = 2048;
constexpr uint32_t kRecvBuffersSteady = 128;
constexpr uint32_t kRecvBufferBytes = 4096;
}  // namespace

Reactor::Reactor(unsigned index, const ServerConfig& config, int listen_fd, ConnectionTable& table,
                 ShardMetrics& metrics, core::KeyedCounters& sockets_per_ip, ReactorEvents& events)
    : index_(index),
      config_(config),
      listen_fd_(listen_fd),
      table_(table),
      metrics_(metrics),
      sockets_per_ip_(sockets_per_ip),
      events_(events),
      refuse_per_ip_response_(http_response(
          429, "text/plain", "too many connections from this address\n", "Retry-After: 5\r\n")) {}

Reactor::~Reactor() = default;

void Reactor::start(core::Doorbell& doorbell) {
  doorbell_ = &doorbell;
  core::pin_current_thread(index_);
  ring_ = std::make_unique<core::Ring>(core::RingConfig{});
  buffers_ = std::make_unique<core::BufferRing>(ring_->get(), kBufferGroup, kRecvBuffers,
                                                kRecvBufferBytes, kRecvBuffersSteady);
  arm_accepts();
  arm_doorbell();
  next_sweep_ms_ = core::mono_millis() + kSweepEveryMs;
}

void Reactor::arm_accepts() {
  if (listen_fd_ < 0) return;
  for (uint32_t i = 0; i < kAcceptsInFlight; ++i) {
    if (!accepts_[i].armed) arm_accept(i);
  }
}

void Reactor::arm_accept(uint32_t i) {
  PendingAccept& a = accepts_[i];
  a.len = sizeof a.addr;
  io_uring_sqe* sqe = ring_->sqe();
  // No SOCK_CLOEXEC: the kernel refuses it for a direct descriptor (there is no process fd).
  io_uring_prep_accept(sqe, listen_fd_, reinterpret_cast<sockaddr*>(&a.addr), &a.len, 0);
  // Set by hand: liburing 2.3's io_uring_prep_accept_direct adds 1 to the index, which turns
  // IORING_FILE_INDEX_ALLOC into 0 ("no fixed file").
  sqe->file_index = IORING_FILE_INDEX_ALLOC;
  io_uring_sqe_set_data64(sqe, core::OpTag{Op::kAccept, 0, i}.pack());
  a.armed = true;
}

void Reactor::arm_doorbell() {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_read(sqe, doorbell_->fd(), &doorbell_value_, sizeof doorbell_value_, 0);
  io_uring_sqe_set_data64(sqe, core::OpTag{Op::kDoorbell, 0, 0}.pack());
}

void Reactor::arm_recv(Connection& c) {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_recv_multishot(sqe, c.file_index, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, tag(Op::kRecv, c));
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
    case Op::kAccept:
      return on_accept(cqe);
    case Op::kRecv:
      return on_recv(cqe);
    case Op::kSend:
      return on_send(cqe);
    case Op::kClose:
      return on_close_done(cqe);
    case Op::kDoorbell:
      if (!draining_ || cqe.res > 0) arm_doorbell();
      return;
    default:
      return;  // shutdown, cancel: nothing to do
  }
}

void Reactor::on_accept(const io_uring_cqe& cqe) {
  uint32_t i = core::OpTag::unpack(cqe.user_data).slot;
  if (i >= kAcceptsInFlight) return;
  accepts_[i].armed = false;
  if (cqe.res < 0) return on_accept_error(i, cqe.res);
  auto file_index = static_cast<unsigned>(cqe.res);
  if (draining_) return close_file(file_index);
  PeerAddress peer = PeerAddress::from(accepts_[i].addr);
  arm_accept(i);  // the address is read: the buffer may take the next client
  if (!sockets_per_ip_.try_acquire(peer.text(), config_.max_conns_per_ip)) {
    metrics_.upgrades_rejected.add();
    return refuse_and_close(file_index);
  }
  Connection& c = table_.allocate(cqe.res);
  c.peer_ip = peer;
  metrics_.connections_accepted.add();
  table_.http_opened();
  c.deadline_ms = core::mono_millis() + config_.handshake_timeout_s * 1000;
  arm_recv(c);
  events_.on_accepted(c);
}

void Reactor::on_accept_error(uint32_t i, int error) {
  if (draining_ || error == -ECANCELED) return;
  if (error == -ECONNABORTED || error == -EINTR || error == -EAGAIN) {
    return arm_accept(i);  // that client gave up before we took it: take the next one
  }
  // ENFILE: the ring's file table is full (the kernel closed the socket it could not place);
  // ENOMEM and the like. Count it; the sweep re-arms within a second (the kernel keeps further
  // clients in the listen backlog meanwhile).
  metrics_.accept_errors.add();
  LOG_WARN("accept_failed", "shard=%u error=\"%s\"", index_, std::strerror(-error));
}

// Best effort on a socket we will not keep: one non-blocking send of a short answer, then the
// close, linked so it runs after the send whatever became of it.
void Reactor::refuse_and_close(unsigned file_index) {
  if (io_uring_sq_space_left(ring_->get()) < 2) ring_->submit();  // a link must not be split
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_send(sqe, static_cast<int>(file_index), refuse_per_ip_response_.data(),
                     refuse_per_ip_response_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
  io_uring_sqe_set_data64(sqe, 0);
  close_file(file_index);
}

void Reactor::close_file(unsigned file_index) {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_close_direct(sqe, file_index);
  io_uring_sqe_set_data64(sqe, 0);
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
    if (c->phase == Phase::Http && !c->http.answered()) {
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
    if (cqe.res == -ENOBUFS) buffers_->ran_dry();
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
  if (c->out.empty()) give_back_send_state(*c);
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
    Connection* c = table_.slots()[dirty[i]];
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
    io_uring_sqe* sqe = ring_->sqe();
    if (c.out.frames() == 1) {
      // One frame (most turns of a fan-out or a join storm): a plain send of the queue's head,
      // which stays queued until the completion. No sendmsg arguments to take, and no msghdr and
      // iovec array for the kernel to copy in.
      iovec one;
      c.out.gather(&one, 1);
      io_uring_prep_send(sqe, c.file_index, one.iov_base, one.iov_len, MSG_NOSIGNAL);
    } else {
      take_send_state(c);
      size_t n = c.out.gather(c.send->iov);
      c.send->msg = msghdr{};
      c.send->msg.msg_iov = c.send->iov;
      c.send->msg.msg_iovlen = n;
      io_uring_prep_sendmsg(sqe, c.file_index, &c.send->msg, MSG_NOSIGNAL);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag(Op::kSend, c));
    c.send_inflight = true;
    return;
  }
  if (c.phase == Phase::Closing) start_linger(c);
}

void Reactor::take_send_state(Connection& c) {
  if (!c.send && !spare_sends_.take(c.send)) c.send = std::make_unique<Connection::SendState>();
}

void Reactor::give_back_send_state(Connection& c) {
  if (c.send) spare_sends_.give(c.send);
  c.send.reset();  // kept (moved from) or, past the bound, freed
}

}  // namespace rtchat::server
