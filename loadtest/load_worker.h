// One load-generator worker: a thread with its own io_uring driving a share of the connections
// (global index i belongs to worker i % workers). Talks to the coordinator only through its
// pipes (worker_link.h), so it runs the same in a thread or in a forked process.
//
// Phases: Setup (connect at the ramp, upgrade, join; each connection has a deadline) -> Ready ->
// wait for "G t_start" -> Run (publishers send on an open-loop schedule) -> Drain (until every
// publish is answered and deliveries go quiet, or the drain deadline) -> Final -> wait for "X",
// close everything. EOF on the down pipe or "A" aborts at once: no phase can hang.
// load_worker.cpp holds the loop, connecting and sending; load_worker_inbound.cpp the receive
// half and the delivery checks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/buffer_ring.h"
#include "core/ring.h"
#include "loadtest/latency_histogram.h"
#include "loadtest/load_connection.h"
#include "loadtest/run_counters.h"
#include "loadtest/scenario_config.h"
#include "loadtest/worker_link.h"
#include "proto/messages.h"

namespace rtchat::loadtest {

class LoadWorker {
 public:
  // t0_ns: the coordinator's CLOCK_MONOTONIC start; connection i starts at t0 + i / ramp.
  LoadWorker(const ScenarioConfig& config, uint32_t worker_index, int up_fd, int down_fd,
             int64_t t0_ns);
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;
  LoadWorker(LoadWorker&&) = delete;
  LoadWorker& operator=(LoadWorker&&) = delete;
  ~LoadWorker();

  // Runs every phase on the calling thread. Returns 0, or 1 after reporting a Fatal message.
  int run();

 private:
  enum class Phase { Setup, WaitGo, Run, Drain, WaitStop, Done };
  struct AckSlot {
    uint64_t seq = 0;
    int64_t sent_ns = 0;
  };
  static constexpr size_t kAckSlots = 256;           // acks normally return within a few messages
  static constexpr std::string_view kJoinRef = "0";  // publishes use their seq, heartbeats "hb<n>"

  void loop();
  void handle_commands();
  void start_due_connections(int64_t now);
  void start_connection(LoadConnection& c, int64_t now);
  void check_setup_timeouts(int64_t now);
  void publish_due(int64_t now);
  void send_heartbeats(int64_t now);
  void send_mark_read(LoadConnection& c, int64_t id);  // --mark-read
  void maybe_sample(int64_t now);
  void flush_dirty();
  void process_completions();

  void on_connect(LoadConnection& c, int res);
  void on_send(LoadConnection& c, int res);
  void on_bytes(LoadConnection& c, const char* data, size_t len, int64_t now);
  void on_frames(LoadConnection& c, int64_t now);
  void on_message(LoadConnection& c, const proto::ServerMessage& msg, int64_t now);
  void on_reply(LoadConnection& c, const proto::ServerMessage& msg, int64_t now);
  void on_new_msg(LoadConnection& c, const proto::ChatMessage& msg, int64_t now);

  void queue_message(LoadConnection& c, const proto::ClientMessage& msg);
  void queue_frame(LoadConnection& c, uint8_t opcode, std::string_view payload);
  void start_send(LoadConnection& c);
  void arm_recv(LoadConnection& c);
  void fail(LoadConnection& c, Counter reason, std::string_view why);
  void close_all();
  void note_error(std::string_view what);
  void send_message(WorkerMessage::Kind kind);
  [[nodiscard]] bool all_settled() const;
  [[nodiscard]] std::string topic_for(uint32_t room) const;
  uint32_t next_mask();

  const ScenarioConfig config_;
  const uint32_t worker_index_;
  const int up_fd_;
  const int down_fd_;
  const int64_t t0_ns_;

  // conns_ is declared before the ring: the ring is destroyed first, so no SQE outlives the
  // buffers it points into.
  std::vector<LoadConnection> conns_;
  std::vector<uint32_t> publishers_;             // local slots of publishing connections
  std::vector<std::vector<AckSlot>> ack_slots_;  // per local publisher
  std::vector<uint32_t> pending_;                // slots between connect and joined
  std::vector<uint32_t> dirty_;                  // slots with unsent output this turn
  std::vector<uint64_t> room_acked_;             // per room
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<core::BufferRing> buffers_;

  Phase phase_ = Phase::Setup;
  size_t next_start_ = 0;
  int64_t t_start_ns_ = 0;
  int64_t t_measure_ns_ = 0;
  int64_t t_end_ns_ = 0;
  int64_t last_rx_ns_ = 0;
  int64_t next_sample_ns_ = 0;
  int64_t next_timeout_scan_ns_ = 0;
  int64_t next_heartbeat_scan_ns_ = 0;
  bool ready_sent_ = false;
  std::string down_pending_;
  std::string first_error_;
  std::string token_cache_;
  uint32_t mask_state_;
  std::string scratch_;
  client::Frame frame_;
  proto::ServerMessage message_;

  RunCounters counters_;
  LatencyHistogram interval_e2e_;
  LatencyHistogram connect_;
  LatencyHistogram join_;
  LatencyHistogram e2e_;
  LatencyHistogram ack_;
};

}  // namespace rtchat::loadtest
