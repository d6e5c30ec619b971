// The pipes between the coordinator and each worker (a thread, or a thread in a forked process:
// pipes work across fork, so both cases are one code path). Up: length-prefixed text messages
// from the worker. Down: one-line commands from the coordinator. EOF on either side means the
// peer is gone, and the reader gives up instead of hanging.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadtest/latency_histogram.h"
#include "loadtest/run_counters.h"

namespace rtchat::loadtest {

// Sent up by a worker. Which fields mean something depends on kind.
struct WorkerMessage {
  enum class Kind : char {
    Sample = 'S',  // once a second: counters, interval_e2e
    Ready = 'R',   // setup settled: counters, room_counts = joined members per room
    Final = 'F',   // after the drain: counters, all histograms, room_counts = acked per room
    Fatal = 'E',   // the worker could not run: text
  };
  Kind kind = Kind::Sample;
  RunCounters counters;
  LatencyHistogram interval_e2e;
  LatencyHistogram connect;  // TCP connect start -> 101 Switching Protocols
  LatencyHistogram join;     // phx_join sent -> ok reply
  LatencyHistogram e2e;      // publish -> delivery, measured window only
  LatencyHistogram ack;      // publish -> ok reply, measured window only
  std::vector<std::pair<uint32_t, uint64_t>> room_counts;  // sparse (room, count)
  std::string text;

  void serialize(std::string& out) const;
  [[nodiscard]] bool deserialize(std::string_view in);
};

struct LinkFds {
  int up_read = -1;     // coordinator end
  int up_write = -1;    // worker end
  int down_read = -1;   // worker end
  int down_write = -1;  // coordinator end
};

// Creates both pipes (O_CLOEXEC). False on failure (errno set).
bool open_link(LinkFds& fds);

// Writes one length-prefixed message, blocking. False when the reader is gone.
bool send_up(int fd, const WorkerMessage& msg);

// Accumulates bytes from a non-blocking up pipe and yields complete messages.
class UpReader {
 public:
  enum class Status { Message, Empty, Closed, Corrupt };
  // Reads what is available (non-blocking fd) and returns one message if complete.
  Status poll(int fd, WorkerMessage& out);

 private:
  std::string buf_;
  bool eof_ = false;
};

// Down-direction commands: "G <t_start_ns>" (go), "X" (stop and close), "A" (abort).
bool send_down(int fd, std::string_view line);
// Non-blocking: appends what is readable, pops whole lines. Returns false on EOF (coordinator
// gone) with no line pending.
bool read_down(int fd, std::string& pending, std::vector<std::string>& lines);

}  // namespace rtchat::loadtest
