#include "proto/presence_meta.h"

#include <cstring>

#include "core/clock.h"

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
                           std::string_view device)
    : online_at_(online_at),
      ref_bytes_(static_cast<uint32_t>(phx_ref.size())),
      name_bytes_(static_cast<uint32_t>(name.size())) {
  text_.reserve(phx_ref.size() + name.size() + device.size());
  text_.append(phx_ref).append(name).append(device);
}

PresenceMeta PresenceMeta::local(uint32_t shard, uint64_t serial, int64_t online_at,
                                 std::string_view name, std::string_view device) {
  (void)process_prefix();  // the prefix's time is taken before any of this process's refs
  PresenceMeta m({}, online_at, name, device);
  m.local_ = (uint64_t{shard & 0xffffu} << kSerialBits) | (serial & kSerialMask);
  return m;
}

std::string_view PresenceMeta::phx_ref(PhxRefBuffer& buf) const {
  if (local_ == 0) return std::string_view(text_).substr(0, ref_bytes_);
  // 11 (prefix) + 4 (shard) + 1 + 10 (serial) = 26 bytes at most.
  std::string_view prefix = process_prefix();
  char* p = buf.bytes;
  std::memcpy(p, prefix.data(), prefix.size());
  p = put_base36(p + prefix.size(), local_ >> kSerialBits);
  *p++ = '.';
  p = put_base36(p, local_ & kSerialMask);
  return {buf.bytes, static_cast<size_t>(p - buf.bytes)};
}

std::string PresenceMeta::phx_ref() const {
  PhxRefBuffer buf;
  return std::string(phx_ref(buf));
}

bool PresenceMeta::same_ref(const PresenceMeta& other) const {
  if (local_ != 0 && other.local_ != 0) return local_ == other.local_;
  PhxRefBuffer a;
  PhxRefBuffer b;
  return phx_ref(a) == other.phx_ref(b);
}

}  // namespace rtchat::proto
