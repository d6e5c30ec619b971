// One presence of a user: one joined socket in a room (Phoenix's meta: phx_ref, online_at, name
// and our optional device). Every idle joined socket holds one in its room's owner, so it is
// kept to 56 bytes with no allocation for a short name: a meta made here keeps its phx_ref as a
// number (written out only when encoded), and name and device share one string. Three
// std::strings took 104 bytes, and the phx_ref's ~16 characters pushed a combined string past
// its inline capacity.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::proto {

// Room for a phx_ref written out (ours are at most 27 bytes; see PresenceMeta::local).
struct PhxRefBuffer {
  char bytes[32];
};

class PresenceMeta {
 public:
  PresenceMeta() = default;
  // A meta as it came (a decoded frame, another node, a test): its phx_ref is kept as text.
  PresenceMeta(std::string_view phx_ref, int64_t online_at, std::string_view name,
               std::string_view device = {});
  // A meta of this process. Its phx_ref reads "F<process start, base36>.<shard>.<serial>" (both
  // base36): unique within the process, and across restarts, so a client never takes a new meta
  // for an old one. serial > 0, below 2^48; shard below 2^16.
  static PresenceMeta local(uint32_t shard, uint64_t serial, int64_t online_at,
                            std::string_view name, std::string_view device = {});

  // The phx_ref's bytes: written into buf for a local meta, else the meta's own. The view is
  // valid while both live.
  [[nodiscard]] std::string_view phx_ref(PhxRefBuffer& buf) const;
  [[nodiscard]] std::string phx_ref() const;  // a copy, for cold paths
  [[nodiscard]] bool same_ref(const PresenceMeta& other) const;
  [[nodiscard]] int64_t online_at() const { return online_at_; }
  [[nodiscard]] std::string_view name() const {
    return std::string_view(text_).substr(ref_bytes_, name_bytes_);
  }
  // Empty = absent.
  [[nodiscard]] std::string_view device() const {
    return std::string_view(text_).substr(ref_bytes_ + name_bytes_);
  }

  friend bool operator==(const PresenceMeta& a, const PresenceMeta& b) {
    return a.online_at_ == b.online_at_ && a.name() == b.name() && a.device() == b.device() &&
           a.same_ref(b);
  }

 private:
  std::string text_;  // [phx_ref unless local] name device
  int64_t online_at_ = 0;
  uint64_t local_ = 0;  // shard << 48 | serial for a local meta; 0: the phx_ref is in text_
  uint32_t ref_bytes_ = 0;
  uint32_t name_bytes_ = 0;
};
static_assert(sizeof(PresenceMeta) <= 56);

}  // namespace rtchat::proto
