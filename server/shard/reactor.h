// The shard's reactor: its io_uring, the listener's accepts, each socket's recv and send, the
// deadlines (handshake, heartbeat, token expiry, close flush, linger) and the close state machine
// Http/WebSocket -> Closing -> Lingering -> Dead -> slot released. It moves bytes; what they mean
// is for ReactorEvents (the shard's HTTP routes and sessions).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/buffer_ring.h"
#include "core/doorbell.h"
#include "core/ring.h"
#include "core/spare_list.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/net/close_reasons.h"
#include "server/shard/connection_table.h"
#include "server/shard/ports.h"

namespace rtchat::server {

// What the reactor hands up: bytes in, and the turns of a connection's life it must tell.
class ReactorEvents {
 public:
  virtual void on_accepted(Connection& c) = 0;
  virtual void on_http_bytes(Connection& c, std::string_view bytes) = 0;
  virtual void on_ws_bytes(Connection& c, std::string_view bytes) = 0;
  // The connection leaves the Http or WebSocket phase (closing or aborted): its bookkeeping ends.
  virtual void on_phase_end(Connection& c) = 0;
  // A WebSocket close the server decides (heartbeat, token expiry, drain): the session's job.
  virtual void close_session(Connection& c, Close which) = 0;
  // Once a second per WebSocket without a close due: true when it freed idle per-socket state.
  virtual bool on_idle_tick(Connection& c) = 0;

 protected:
  ~ReactorEvents() = default;
};

class Reactor final : public SocketPort {
 public:
  Reactor(unsigned index, const ServerConfig& config, int listen_fd, ConnectionTable& table,
          ShardMetrics& metrics, core::KeyedCounters& sockets_per_ip, ReactorEvents& events);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // On the shard thread: pins it, creates the ring and arms accept and the doorbell.
  void start(core::Doorbell& doorbell);
  // Handles every completion ready now. True when there was one.
  bool reap();
  // End of a turn: one gathered send per connection with output (corking), buffers back.
  void flush();
  // Once a turn: coarse timers (once a second) and the drain. True when the loop may end.
  bool tick(bool stopping);
  [[nodiscard]] int64_t next_tick_ms() const { return next_sweep_ms_; }
  void submit_and_wait(int wait_ms);
  // Leaves with every remaining socket closed (drain deadline passed).
  void close_all();

  void close_after_flush(Connection& c) override;
  void abort(Connection& c) override;

 private:
  static constexpr int64_t kSweepEveryMs = 1000;  // coarse timers: one pass per second
  // What each SQE's user data names (core::OpTag), so its completion finds its handler.
  enum Op : uint8_t { kAccept = 1, kRecv, kSend, kShutdown, kClose, kDoorbell, kCancel };
  static uint64_t tag(Op op, const Connection& c) {
    return core::OpTag{op, c.ref.generation, c.ref.slot}.pack();
  }

  void arm_accepts();  // every accept that is not in flight
  void arm_accept(uint32_t i);
  void arm_doorbell();
  void arm_recv(Connection& c);
  void handle_cqe(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_accept_error(uint32_t i, int error);
  void refuse_and_close(unsigned file_index);
  void close_file(unsigned file_index);
  void on_recv(const io_uring_cqe& cqe);
  void on_send(const io_uring_cqe& cqe);
  void on_close_done(const io_uring_cqe& cqe);
  void flush_connection(Connection& c);
  void sweep(int64_t now_ms);
  bool sweep_one(Connection& c, int64_t now_ms, int64_t now_s);
  void release_heap_if_due(int64_t now_ms);  // receive buffers and free heap pages, when steady
  void begin_drain();
  void drop_output(Connection& c);  // only when no send is in flight
  // A sendmsg's arguments (1 KB of iovecs) are held only while a sendmsg is in flight (a send of
  // one frame needs none); between sends they wait in a spare list, so a storm's sends do not
  // churn the heap.
  void take_send_state(Connection& c);
  void give_back_send_state(Connection& c);
  void cancel_requests(Connection& c);  // cancels the socket's in-flight recv and send
  void start_linger(Connection& c);
  void submit_final_close(Connection& c);

  unsigned index_;
  const ServerConfig& config_;
  int listen_fd_;
  ConnectionTable& table_;
  ShardMetrics& metrics_;
  core::KeyedCounters& sockets_per_ip_;
  ReactorEvents& events_;
  core::Doorbell* doorbell_ = nullptr;
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<core::BufferRing> buffers_;
  uint64_t doorbell_value_ = 0;
  // Single-shot accepts straight into the ring's file table (the kernel picks the index), a few
  // in flight, each with its own address buffer: the peer address comes with the completion, so
  // an accepted socket costs no getpeername, no files_update and no close, and holds no process
  // fd. (A multishot accept has one buffer for all its completions: useless for addresses.)
  static constexpr uint32_t kAcceptsInFlight = 16;
  struct PendingAccept {
    sockaddr_storage addr{};
    socklen_t len = 0;
    bool armed = false;
  };
  std::array<PendingAccept, kAcceptsInFlight> accepts_;
  // The answer to a client over --max-conns-per-ip, sent from here (it must outlive the send).
  std::string refuse_per_ip_response_;
  bool draining_ = false;
  int64_t drain_deadline_ms_ = 0;
  int64_t next_sweep_ms_ = 0;
  int64_t next_release_ms_ = 0;
  size_t connections_at_last_release_check_ = 0;
  static constexpr size_t kMaxSpareSends = 256;
  core::SpareList<std::unique_ptr<Connection::SendState>> spare_sends_{kMaxSpareSends};
};

}  // namespace rtchat::server
