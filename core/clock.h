#pragma once

#include <chrono>
#include <cstdint>

namespace rtchat::core {

// Wall-clock milliseconds since the Unix epoch (message timestamps, presence online_at).
inline int64_t unix_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Monotonic milliseconds (timeouts, deadlines, latency).
inline int64_t mono_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

inline int64_t mono_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace rtchat::core
