#include "proto/presence_meta.h"

#include <algorithm>
#include <cstring>

#include "core/clock.h"
#include "proto/display_text.h"

namespace rtchat::proto {
namespace {

constexpr unsigned kSerialBits = 48;
constexpr uint64_t kSerialMask = (uint64_t{1} << kSerialBits) - 1;

char* put_base36(char* p, uint64_t v) {
  char digits[16];
  int n = 0;
  do {
    int d = static_cast<int>(v % 36);
    digits[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
    v /= 36;
  } while (v);
  while (n) *p++ = digits[--n];
  return p;
}

// "F<process start in ms, base36>.": taken once, at the first local meta.
std::string_view process_prefix() {
  static const std::string prefix = [] {
    char buf[16];
    buf[0] = 'F';
    char* p = put_base36(buf + 1, static_cast<uint64_t>(core::unix_millis()));
    *p++ = '.';
    return std::string(buf, p);
  }();
  return prefix;
}

}  // namespace

PresenceMeta::PresenceMeta(std::string_view phx_ref, int64_t online_at, std::string_view name,
                           std::string_view device) {
  // Names are at most 64 bytes here (tokens); only a faulty peer sends more: a longer one keeps
  // its head, cut between characters (JSON clients must get valid UTF-8).
  name = utf8_prefix(name, (size_t{1} << kNameBits) - 1);
  constexpr int64_t kAtMax = (int64_t{1} << (kAtBits - 1)) - 1;
  const int64_t at = std::clamp(online_at, -kAtMax, kAtMax);
  at_and_name_ = (static_cast<uint64_t>(at) & ((uint64_t{1} << kAtBits) - 1)) |
                 (uint64_t{name.size()} << kAtBits);
  ref_ = kTextRef | phx_ref.size();
  text_.reserve(phx_ref.size() + name.size() + device.size());
  text_.append(phx_ref).append(name).append(device);
}

PresenceMeta PresenceMeta::local(uint32_t shard, uint64_t serial, int64_t online_at,
                                 std::string_view name, std::string_view device) {
  (void)process_prefix();  // the prefix's time is taken before any of this process's refs
  PresenceMeta m({}, online_at, name, device);
  m.ref_ = (uint64_t{shard & 0x7fffu} << kSerialBits) | (serial & kSerialMask);
  return m;
}

std::string_view PresenceMeta::phx_ref(PhxRefBuffer& buf) const {
  if (!is_local()) return std::string_view(text_).substr(0, ref_bytes());
  // 11 (prefix) + 4 (shard) + 1 + 10 (serial) = 26 bytes at most.
  std::string_view prefix = process_prefix();
  char* p = buf.bytes;
  std::memcpy(p, prefix.data(), prefix.size());
  p = put_base36(p + prefix.size(), ref_ >> kSerialBits);
  *p++ = '.';
  p = put_base36(p, ref_ & kSerialMask);
  return {buf.bytes, static_cast<size_t>(p - buf.bytes)};
}

std::string PresenceMeta::phx_ref() const {
  PhxRefBuffer buf;
  return std::string(phx_ref(buf));
}

bool PresenceMeta::same_ref(const PresenceMeta& other) const {
  if (is_local() && other.is_local()) return ref_ == other.ref_;
  PhxRefBuffer a;
  PhxRefBuffer b;
  return phx_ref(a) == other.phx_ref(b);
}

}  // namespace rtchat::proto
