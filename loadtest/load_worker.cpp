#include "loadtest/load_worker.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <exception>

#include "loadtest/message_body.h"
#include "loadtest/user_token.h"
#include "loadtest/worker_link.h"

namespace rtchat::loadtest {

namespace {

enum Op : uint8_t { kOpConnect = 1, kOpSend = 2, kOpRecv = 3 };

constexpr uint16_t kBufferGroup = 1;
constexpr uint32_t kRecvBuffers = 2048;  // shared by all of a worker's sockets
constexpr uint32_t kRecvBufferBytes = 16384;
constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kQuietNs = 300'000'000;  // drain: no delivery for this long means done

int64_t seconds_ns(double s) { return static_cast<int64_t>(s * 1e9); }

}  // namespace

LoadWorker::LoadWorker(const ScenarioConfig& config, uint32_t worker_index, int up_fd, int down_fd,
                       int64_t t0_ns)
    : config_(config),
      worker_index_(worker_index),
      up_fd_(up_fd),
      down_fd_(down_fd),
      t0_ns_(t0_ns),
      mask_state_(0x9E3779B9u ^ (worker_index * 2654435761u)) {
  const uint32_t workers = config_.workers();
  for (uint32_t i = worker_index_; i < config_.connections; i += workers) {
    LoadConnection c;
    c.index = i;
    c.room = i % config_.rooms;
    c.is_publisher = i < config_.publishers;
    conns_.push_back(std::move(c));
  }
  for (uint32_t s = 0; s < conns_.size(); ++s) {
    if (!conns_[s].is_publisher) continue;
    conns_[s].publisher_slot = static_cast<uint32_t>(publishers_.size());
    publishers_.push_back(s);
  }
  ack_slots_.assign(publishers_.size(), std::vector<AckSlot>(kAckSlots));
  room_acked_.assign(config_.rooms, 0);
}

LoadWorker::~LoadWorker() = default;

int LoadWorker::run() {
  try {
    core::RingConfig rc;
    rc.entries = 4096;
    rc.direct_files = 64;  // plain fds: one process's share stays under its RLIMIT_NOFILE
    ring_ = std::make_unique<core::Ring>(rc);
    buffers_ = std::make_unique<core::BufferRing>(ring_->get(), kBufferGroup, kRecvBuffers,
                                                  kRecvBufferBytes);
  } catch (const std::exception& e) {
    WorkerMessage m;
    m.kind = WorkerMessage::Kind::Fatal;
    m.text = std::string("worker setup: ") + e.what();
    (void)send_up(up_fd_, m);
    return 1;
  }
  loop();
  close_all();
  return 0;
}

void LoadWorker::loop() {
  next_sample_ns_ = t0_ns_ + kNsPerSec;
  while (phase_ != Phase::Done) {
    const int64_t now = mono_ns();
    handle_commands();
    if (phase_ == Phase::Done) break;

    if (phase_ == Phase::Setup) {
      start_due_connections(now);
      if (now >= next_timeout_scan_ns_) {
        check_setup_timeouts(now);
        next_timeout_scan_ns_ = now + 20'000'000;
      }
      if (all_settled()) {
        send_message(WorkerMessage::Kind::Ready);
        phase_ = Phase::WaitGo;
      }
    }
    if (phase_ == Phase::Run) {
      // Every joined connection gone (the server died): nothing left to measure, end now.
      const bool all_lost = counters_[Counter::ConnJoined] > 0 &&
                            counters_[Counter::ConnJoined] == counters_[Counter::ConnLost];
      if (now >= t_end_ns_ || all_lost) {
        phase_ = Phase::Drain;
      } else if (now >= t_start_ns_) {
        publish_due(now);
      }
    }
    if (phase_ == Phase::Drain) {
      const bool alive = counters_[Counter::ConnJoined] > counters_[Counter::ConnLost];
      const bool answered = counters_[Counter::Published] ==
                            counters_[Counter::Acked] + counters_[Counter::PublishErrors];
      const bool quiet = now - std::max(last_rx_ns_, t_end_ns_) >= kQuietNs;
      if (!alive || (answered && quiet) || now >= t_end_ns_ + seconds_ns(config_.drain_timeout_s)) {
        send_message(WorkerMessage::Kind::Final);
        phase_ = Phase::WaitStop;
      }
    }
    if (now >= next_heartbeat_scan_ns_) {
      send_heartbeats(now);
      next_heartbeat_scan_ns_ = now + kNsPerSec;
    }
    maybe_sample(now);
    flush_dirty();
    buffers_->publish();

    // Publishers need millisecond ticks for their schedule; otherwise completions or the next
    // second's sample wake the loop.
    const int wait_ms = (phase_ == Phase::Run || phase_ == Phase::Setup) ? 1 : 5;
    int rc = ring_->submit_and_wait(wait_ms);
    (void)rc;  // -ETIME and -EINTR just mean another turn
    process_completions();
  }
}

void LoadWorker::handle_commands() {
  std::vector<std::string> lines;
  const bool open = read_down(down_fd_, down_pending_, lines);
  for (const std::string& line : lines) {
    if (line.size() > 2 && line[0] == 'G' && phase_ == Phase::WaitGo) {
      int64_t t = 0;
      std::from_chars(line.data() + 2, line.data() + line.size(), t);
      t_start_ns_ = t;
      t_measure_ns_ = t + seconds_ns(config_.warmup_s);
      t_end_ns_ = t_measure_ns_ + seconds_ns(config_.duration_s);
      const double rate = config_.per_publisher_rate();
      const int64_t interval = rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0;
      // Stagger publishers evenly over one interval so the room does not see bursts.
      for (uint32_t slot : publishers_) {
        LoadConnection& c = conns_[slot];
        c.next_send_ns = t_start_ns_ + interval * c.index / std::max(1u, config_.publishers);
      }
      phase_ = Phase::Run;
    } else if (line == "X") {
      phase_ = Phase::Done;
    } else if (line == "A") {
      phase_ = Phase::Done;
    }
  }
  if (!open) phase_ = Phase::Done;  // the coordinator is gone: stop now, never hang
}

bool LoadWorker::all_settled() const { return next_start_ == conns_.size() && pending_.empty(); }

std::string LoadWorker::topic_for(uint32_t room) const {
  return "room:" + config_.room_prefix + std::to_string(room);
}

uint32_t LoadWorker::next_mask() {
  // xorshift32: masking keys only need to vary, not to be secret, for a load generator.
  mask_state_ ^= mask_state_ << 13;
  mask_state_ ^= mask_state_ >> 17;
  mask_state_ ^= mask_state_ << 5;
  return mask_state_;
}

void LoadWorker::note_error(std::string_view what) {
  if (first_error_.empty()) first_error_ = std::string(what);
}

void LoadWorker::start_due_connections(int64_t now) {
  while (next_start_ < conns_.size() && pending_.size() < config_.max_pending) {
    LoadConnection& c = conns_[next_start_];
    if (config_.ramp > 0) {
      const int64_t due =
          t0_ns_ + static_cast<int64_t>(static_cast<double>(c.index) / config_.ramp * 1e9);
      if (due > now) break;
    }
    ++next_start_;
    start_connection(c, now);
  }
}

void LoadWorker::start_connection(LoadConnection& c, int64_t now) {
  ++counters_[Counter::ConnAttempted];
  c.started_ns = now;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    note_error(std::string("socket: ") + std::strerror(err) +
               (err == EMFILE ? " (per-process fd limit: use --procs)" : ""));
    ++counters_[Counter::ConnTcpFailed];
    c.state = ConnState::Dead;
    return;
  }
  c.fd = fd;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (config_.source_addrs > 1) {
    // Defer the port choice to connect(), where the kernel checks the full 4-tuple: each source
    // address then has its own ~28k ephemeral ports towards the server.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7F000001u + c.index % config_.source_addrs);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      note_error(std::string("bind source address: ") + std::strerror(errno));
      c.state = ConnState::Connecting;
      fail(c, Counter::ConnTcpFailed, {});
      return;
    }
  }
  c.peer.sin_family = AF_INET;
  c.peer.sin_port = htons(config_.port);
  c.peer.sin_addr.s_addr = config_.target_addr;
  c.state = ConnState::Connecting;
  pending_.push_back(static_cast<uint32_t>(&c - conns_.data()));
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_connect(sqe, fd, reinterpret_cast<sockaddr*>(&c.peer), sizeof c.peer);
  io_uring_sqe_set_data64(
      sqe, core::OpTag{kOpConnect, c.generation, static_cast<uint32_t>(&c - conns_.data())}.pack());
}

void LoadWorker::check_setup_timeouts(int64_t now) {
  const int64_t limit = seconds_ns(config_.connect_timeout_s);
  size_t keep = 0;
  for (uint32_t slot : pending_) {
    LoadConnection& c = conns_[slot];
    if (c.state == ConnState::Dead || c.state == ConnState::Joined) continue;
    if (now - c.started_ns > limit) {
      fail(c, Counter::ConnTimedOut, "not joined within --connect-timeout");
      continue;
    }
    pending_[keep++] = slot;
  }
  pending_.resize(keep);
}

void LoadWorker::publish_due(int64_t now) {
  const double rate = config_.per_publisher_rate();
  if (rate <= 0) return;
  const auto interval = static_cast<int64_t>(1e9 / rate);
  proto::ClientMessage m;
  m.join_ref = std::string(kJoinRef);
  m.event = proto::ClientEvent::NewMsg;
  m.event_name = "new_msg";
  for (size_t p = 0; p < publishers_.size(); ++p) {
    LoadConnection& c = conns_[publishers_[p]];
    if (c.state != ConnState::Joined) continue;
    // Open loop: every due message goes out now, however late; the lag is reported so an
    // overloaded generator cannot hide behind its own slowness.
    while (c.next_send_ns <= now && c.next_send_ns < t_end_ns_) {
      const uint64_t lag_us = static_cast<uint64_t>(now - c.next_send_ns) / 1000;
      auto& lag = counters_[Counter::SendLagMaxUs];
      if (c.next_send_ns >= t_measure_ns_) lag = std::max(lag, lag_us);
      const int64_t sent = mono_ns();
      m.topic = topic_for(c.room);
      m.ref = std::to_string(c.next_seq);
      m.body.clear();
      encode_body(BodyStamp{c.index, c.next_seq, sent}, config_.msg_size, m.body);
      ack_slots_[p][c.next_seq % kAckSlots] = AckSlot{c.next_seq, sent};
      queue_message(c, m);
      ++counters_[Counter::Published];
      if (c.next_send_ns >= t_measure_ns_) ++counters_[Counter::PublishedMeasured];
      ++c.next_seq;
      c.next_send_ns += interval;
    }
  }
}

void LoadWorker::send_heartbeats(int64_t now) {
  for (LoadConnection& c : conns_) {
    if (c.state != ConnState::Joined || c.next_heartbeat_ns > now) continue;
    proto::ClientMessage m;
    m.topic = "phoenix";
    m.event = proto::ClientEvent::Heartbeat;
    m.event_name = "heartbeat";
    m.ref = "hb" + std::to_string(++c.heartbeat_ref);
    queue_message(c, m);
    c.next_heartbeat_ns = now + seconds_ns(config_.heartbeat_s);
  }
}

void LoadWorker::maybe_sample(int64_t now) {
  if (now < next_sample_ns_) return;
  send_message(WorkerMessage::Kind::Sample);
  interval_e2e_.reset();
  while (next_sample_ns_ <= now) next_sample_ns_ += kNsPerSec;
}

void LoadWorker::send_message(WorkerMessage::Kind kind) {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = kind;
  m->counters = counters_;
  m->text = first_error_;
  if (kind == WorkerMessage::Kind::Sample) m->interval_e2e = interval_e2e_;
  if (kind == WorkerMessage::Kind::Ready) {
    std::vector<uint64_t> members(config_.rooms, 0);
    for (const auto& c : conns_) members[c.room] += c.state == ConnState::Joined;
    for (uint32_t r = 0; r < config_.rooms; ++r) {
      if (members[r] > 0) m->room_counts.emplace_back(r, members[r]);
    }
  }
  if (kind == WorkerMessage::Kind::Final) {
    m->connect = connect_;
    m->join = join_;
    m->e2e = e2e_;
    m->ack = ack_;
    for (uint32_t r = 0; r < config_.rooms; ++r) {
      if (room_acked_[r] > 0) m->room_counts.emplace_back(r, room_acked_[r]);
    }
  }
  if (!send_up(up_fd_, *m)) phase_ = Phase::Done;
}

// ------------------------------------------------------------------ sending

void LoadWorker::queue_message(LoadConnection& c, const proto::ClientMessage& msg) {
  scratch_.clear();
  client::encode_message(config_.format, msg, scratch_);
  queue_frame(c, client::opcode_for(config_.format), scratch_);
}

void LoadWorker::queue_frame(LoadConnection& c, uint8_t opcode, std::string_view payload) {
  if (c.fd < 0) return;
  if (c.out.empty()) dirty_.push_back(static_cast<uint32_t>(&c - conns_.data()));
  client::append_client_frame(c.out, opcode, payload, next_mask());
}

void LoadWorker::flush_dirty() {
  // Everything queued for a socket during this turn leaves in one send (corking).
  for (uint32_t slot : dirty_) {
    LoadConnection& c = conns_[slot];
    if (c.fd >= 0 && !c.send_in_flight && !c.out.empty()) start_send(c);
  }
  dirty_.clear();
}

void LoadWorker::start_send(LoadConnection& c) {
  c.inflight.clear();
  std::swap(c.inflight, c.out);
  c.inflight_sent = 0;
  c.send_in_flight = true;
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_send(sqe, c.fd, c.inflight.data(), c.inflight.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(
      sqe, core::OpTag{kOpSend, c.generation, static_cast<uint32_t>(&c - conns_.data())}.pack());
}

void LoadWorker::arm_recv(LoadConnection& c) {
  io_uring_sqe* sqe = ring_->sqe();
  io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(
      sqe, core::OpTag{kOpRecv, c.generation, static_cast<uint32_t>(&c - conns_.data())}.pack());
  c.recv_armed = true;
}

void LoadWorker::fail(LoadConnection& c, Counter reason, std::string_view why) {
  if (c.state == ConnState::Dead) return;
  if (!why.empty()) note_error(why);
  ++counters_[c.state == ConnState::Joined ? Counter::ConnLost : reason];
  if (c.fd >= 0) {
    // shutdown() ends the armed multishot recv (a bare close() would not: the ring holds a
    // reference to the file); the generation bump makes its last CQE stale.
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
    c.fd = -1;
  }
  ++c.generation;
  c.state = ConnState::Dead;
  c.out.clear();
  c.handshake.clear();
  c.handshake.shrink_to_fit();
}

void LoadWorker::close_all() {
  for (LoadConnection& c : conns_) {
    if (c.fd >= 0) {
      ::shutdown(c.fd, SHUT_RDWR);
      ::close(c.fd);
      c.fd = -1;
      ++c.generation;
    }
  }
  // Let the kernel finish the cancelled operations before the ring and buffers go away.
  const int64_t deadline = mono_ns() + 200'000'000;
  while (mono_ns() < deadline) {
    if (ring_->submit_and_wait(10) < 0) break;
    unsigned head;
    io_uring_cqe* cqe;
    unsigned n = 0;
    io_uring_for_each_cqe(ring_->get(), head, cqe) { ++n; }
    if (n == 0) break;
    io_uring_cq_advance(ring_->get(), n);
  }
}

// ------------------------------------------------------------------ completions

void LoadWorker::process_completions() {
  unsigned head;
  io_uring_cqe* cqe;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    ++seen;
    const core::OpTag tag = core::OpTag::unpack(io_uring_cqe_get_data64(cqe));
    const int res = cqe->res;
    const unsigned flags = cqe->flags;
    if (tag.slot >= conns_.size()) continue;
    LoadConnection& c = conns_[tag.slot];
    const bool current = (tag.generation & 0xFFFFFFu) == (c.generation & 0xFFFFFFu) && c.fd >= 0;
    switch (tag.op) {
      case kOpConnect:
        if (current) on_connect(c, res);
        break;
      case kOpSend:
        if (current) on_send(c, res);
        break;
      case kOpRecv: {
        const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
        const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (current) {
          if (res > 0 && has_buffer) {
            auto view = buffers_->view(bid, static_cast<size_t>(res));
            on_bytes(c, reinterpret_cast<const char*>(view.data()), view.size(), mono_ns());
          } else if (res == 0) {
            fail(c, Counter::ConnTcpFailed, "server closed the connection");
          } else if (res < 0 && res != -ENOBUFS) {
            fail(c, Counter::ConnTcpFailed, std::string("recv: ") + std::strerror(-res));
          }
        }
        // Always recycle the buffer, whether or not its connection is still alive.
        if (has_buffer) buffers_->recycle(bid);
        if (!(flags & IORING_CQE_F_MORE) && c.fd >= 0 &&
            (tag.generation & 0xFFFFFFu) == (c.generation & 0xFFFFFFu)) {
          arm_recv(c);  // multishot ended (e.g. buffers ran out): re-arm
        }
        break;
      }
      default:
        break;
    }
  }
  io_uring_cq_advance(ring_->get(), seen);
}

void LoadWorker::on_connect(LoadConnection& c, int res) {
  if (res < 0) {
    fail(c, Counter::ConnTcpFailed,
         std::string("connect to ") + config_.host + ":" + std::to_string(config_.port) + ": " +
             std::strerror(-res));
    return;
  }
  arm_recv(c);
  c.ws_key = client::make_websocket_key();
  std::string token = mint_user_token(config_.jwt_secret, c.index,
                                      static_cast<int64_t>(config_.warmup_s + config_.duration_s));
  const std::string host_port = config_.host + ":" + std::to_string(config_.port);
  const std::string path = "/socket/websocket?vsn=2.0.0&token=" + token;
  if (c.out.empty()) dirty_.push_back(static_cast<uint32_t>(&c - conns_.data()));
  c.out += client::build_upgrade_request(host_port, path, c.ws_key, config_.format);
  c.state = ConnState::Upgrading;
}

void LoadWorker::on_send(LoadConnection& c, int res) {
  if (res < 0) {
    fail(c, Counter::ConnTcpFailed, std::string("send: ") + std::strerror(-res));
    return;
  }
  counters_[Counter::BytesOut] += static_cast<uint64_t>(res);
  c.inflight_sent += static_cast<size_t>(res);
  if (c.inflight_sent < c.inflight.size()) {
    io_uring_sqe* sqe = ring_->sqe();
    io_uring_prep_send(sqe, c.fd, c.inflight.data() + c.inflight_sent,
                       c.inflight.size() - c.inflight_sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(
        sqe, core::OpTag{kOpSend, c.generation, static_cast<uint32_t>(&c - conns_.data())}.pack());
    return;
  }
  c.send_in_flight = false;
  if (!c.out.empty()) start_send(c);
}

}  // namespace rtchat::loadtest
