// Everything one load-test run needs to know, parsed once by main() and copied into every worker
// (threads and forked processes alike). Printed in full next to the results (STYLE.md 7).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "loadtest/client/ws_frames.h"

namespace rtchat::loadtest {

struct ScenarioConfig {
  std::string host = "127.0.0.1";  // only 127.0.0.0/8 is accepted
  uint16_t port = 4000;
  uint32_t connections = 100;
  uint32_t rooms = 10;       // members spread round-robin: connection i is in room i % rooms
  uint32_t publishers = 10;  // connections 0..publishers-1 publish
  double rate = 1.0;         // msgs/s per publisher
  double total_rate = 0.0;   // > 0: open-loop total over all publishers (overrides rate)
  uint32_t msg_size = 100;   // body bytes (stamp + padding)
  double duration_s = 10.0;  // measured window
  double warmup_s = 1.0;     // publishing before the measured window; excluded from latency
  double ramp = 0.0;         // connects per second over the whole run; 0 = as fast as allowed
  client::Format format = client::Format::Json;
  std::string jwt_secret;
  std::string room_prefix;  // room ids are <prefix><r>; unique per run by default
  uint32_t procs = 1;       // forked worker processes (each under its own 20000-fd limit)
  uint32_t threads = 1;     // worker threads (one io_uring each) per process
  // Bind to 127.0.0.1..K: ~28k ephemeral ports per source address, but connects slow down long
  // before they run out (the kernel's port search): 0 = one address per 5000 connections.
  uint32_t source_addrs = 0;
  uint32_t max_pending = 256;     // per worker: connections between connect() and joined
  double connect_timeout_s = 10;  // per connection: TCP connect + upgrade + join
  double drain_timeout_s = 5;     // after publishing stops: wait for acks and deliveries
  double heartbeat_s = 25;        // Phoenix heartbeat period (server closes sockets silent 60 s)
  int server_pid = 0;             // > 0: sample the server's RSS from /proc/<pid>/status
  std::string csv_path;
  bool json = false;
  bool quiet = false;
  // Every delivered new_msg is answered with mark_read {id}, as a chat UI with the room in view
  // does: the cost of read-state writes (issue 16) under a scenario. Their replies are not timed.
  bool mark_read = false;
  // The control for mark_read: a heartbeat per delivered new_msg (same frames in and out, no
  // cross-shard hop, no write), to tell the cost of the frames from the cost of the writes.
  bool heartbeat_per_delivery = false;
  bool strict =
      false;  // exit 3 when any delivery is lost, reordered or duplicated  // no progress lines

  [[nodiscard]] uint32_t workers() const { return procs * threads; }
  // msgs/s each publisher sends.
  [[nodiscard]] double per_publisher_rate() const {
    if (publishers == 0) return 0.0;
    return total_rate > 0 ? total_rate / publishers : rate;
  }
  in_addr_t target_addr = 0;  // network order, filled by validation
};

}  // namespace rtchat::loadtest
