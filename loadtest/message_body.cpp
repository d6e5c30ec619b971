#include "loadtest/message_body.h"

#include <time.h>

#include <algorithm>
#include <charconv>

namespace rtchat::loadtest {

namespace {

void append_int(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

template <typename T>
bool read_field(std::string_view& s, T& v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr == s.data() + s.size() || *r.ptr != ' ') return false;
  s.remove_prefix(static_cast<size_t>(r.ptr - s.data()) + 1);
  return true;
}

}  // namespace

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void encode_body(const BodyStamp& stamp, size_t body_bytes, std::string& out) {
  const size_t start = out.size();
  out += "lt ";
  append_int(out, stamp.publisher);
  out += ' ';
  append_int(out, stamp.seq);
  out += ' ';
  append_int(out, static_cast<uint64_t>(stamp.send_ns));
  out += ' ';
  const size_t target = std::min(body_bytes, kMaxBodyBytes);
  const size_t have = out.size() - start;
  if (have < target) out.append(target - have, 'x');
}

bool parse_body(std::string_view body, BodyStamp& out) {
  if (body.size() < 3 || body.substr(0, 3) != "lt ") return false;
  body.remove_prefix(3);
  BodyStamp s;
  if (!read_field(body, s.publisher) || !read_field(body, s.seq) || !read_field(body, s.send_ns)) {
    return false;
  }
  out = s;
  return true;
}

}  // namespace rtchat::loadtest
