// Unsigned decimals in the text the load tool's processes exchange (histograms, counters).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::loadtest {

inline void append_u64(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Reads one unsigned decimal, skipping leading spaces; advances s. False when none is there.
inline bool read_u64(std::string_view& s, uint64_t& v) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{}) return false;
  s.remove_prefix(static_cast<size_t>(r.ptr - s.data()));
  return true;
}

}  // namespace rtchat::loadtest
