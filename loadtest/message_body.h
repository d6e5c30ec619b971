// The body of every load-test message: who sent it, its per-publisher sequence and the send time,
// padded to the requested size. Sender and receiver share the machine, so CLOCK_MONOTONIC
// nanoseconds are a common clock and one subtraction gives the end-to-end latency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::loadtest {

struct BodyStamp {
  uint32_t publisher = 0;  // global publisher index (== its connection index)
  uint64_t seq = 0;        // per-publisher, from 1
  int64_t send_ns = 0;     // CLOCK_MONOTONIC when encoded
};

// "lt <publisher> <seq> <send_ns> " then 'x' padding up to body_bytes (never shorter than the
// stamp itself, never longer than kMaxBodyBytes). Plain ASCII: needs no JSON escaping.
inline constexpr size_t kMaxBodyBytes = 4000;  // the chat contract's body limit
void encode_body(const BodyStamp& stamp, size_t body_bytes, std::string& out);

// False when body is not a load-test body (e.g. a message from a human in the same room).
[[nodiscard]] bool parse_body(std::string_view body, BodyStamp& out);

// CLOCK_MONOTONIC in nanoseconds.
int64_t mono_ns();

}  // namespace rtchat::loadtest
