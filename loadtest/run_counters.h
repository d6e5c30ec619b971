// The counters one worker keeps, summed by the coordinator. Cumulative, so a late or lost
// per-second sample never corrupts totals: the coordinator keeps each worker's latest values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rtchat::loadtest {

enum class Counter : uint8_t {
  ConnAttempted,
  ConnTcpFailed,      // socket/connect errors (refused, reset, EMFILE, EADDRNOTAVAIL...)
  ConnUpgradeFailed,  // non-101 answer or malformed response
  ConnJoinFailed,     // error reply to phx_join
  ConnTimedOut,       // not joined within --connect-timeout
  ConnJoined,
  ConnLost,  // joined, then closed by the server or reset
  Published,
  PublishedMeasured,  // of which scheduled inside the measured window
  Acked,
  PublishErrors,     // error replies to new_msg (all reasons)
  RateLimited,       // of which reason "rate_limited"
  Received,          // new_msg deliveries carrying a load-test body
  ReceivedMeasured,  // of which sent inside the measured window
  ForeignMessages,   // new_msg with another body (humans in the room)
  OrderViolations,   // id lower than the last id this receiver saw in its room
  Duplicates,        // id equal to the last id seen
  PresenceFrames,
  OtherFrames,
  ProtocolErrors,  // bad frames or undecodable messages (connection is dropped)
  BytesIn,
  BytesOut,
  SendLagMaxUs,  // worst delay of a publish behind its open-loop schedule (a max, not a sum)
  Count_,
};

inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::Count_);

inline constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
    "conn_attempted",
    "conn_tcp_failed",
    "conn_upgrade_failed",
    "conn_join_failed",
    "conn_timed_out",
    "conn_joined",
    "conn_lost",
    "published",
    "published_measured",
    "acked",
    "publish_errors",
    "rate_limited",
    "received",
    "received_measured",
    "foreign_messages",
    "order_violations",
    "duplicates",
    "presence_frames",
    "other_frames",
    "protocol_errors",
    "bytes_in",
    "bytes_out",
    "send_lag_max_us",
};

struct RunCounters {
  std::array<uint64_t, kCounterCount> values{};

  uint64_t& operator[](Counter c) { return values[static_cast<size_t>(c)]; }
  uint64_t operator[](Counter c) const { return values[static_cast<size_t>(c)]; }
  void add(const RunCounters& o) {
    for (size_t i = 0; i < kCounterCount; ++i) {
      if (i == static_cast<size_t>(Counter::SendLagMaxUs)) {
        values[i] = values[i] > o.values[i] ? values[i] : o.values[i];
      } else {
        values[i] += o.values[i];
      }
    }
  }
  [[nodiscard]] uint64_t settled() const {
    return (*this)[Counter::ConnTcpFailed] + (*this)[Counter::ConnUpgradeFailed] +
           (*this)[Counter::ConnJoinFailed] + (*this)[Counter::ConnTimedOut] +
           (*this)[Counter::ConnJoined];
  }
  [[nodiscard]] uint64_t failed() const { return settled() - (*this)[Counter::ConnJoined]; }
};

}  // namespace rtchat::loadtest
