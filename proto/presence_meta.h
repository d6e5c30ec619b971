// One presence of a user: one joined socket in a room (Phoenix's meta: phx_ref, online_at, name
// and our optional device). Every idle joined socket holds one in its room's owner, so it is
// kept to 48 bytes with no allocation for a short name: a meta made here keeps its phx_ref as a
// number (written out only when encoded), name and device share one string, and the lengths
// ride in the spare bits of online_at and of the ref number. Three std::strings took 104
// bytes, and the phx_ref's ~16 characters pushed a combined string past its inline capacity.
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
  // for an old one. serial > 0, below 2^48; shard below 2^15.
  static PresenceMeta local(uint32_t shard, uint64_t serial, int64_t online_at,
                            std::string_view name, std::string_view device = {});

  // The phx_ref's bytes: written into buf for a local meta, else the meta's own. The view is
  // valid while both live.
  [[nodiscard]] std::string_view phx_ref(PhxRefBuffer& buf) const;
  [[nodiscard]] std::string phx_ref() const;  // a copy, for cold paths
  [[nodiscard]] bool same_ref(const PresenceMeta& other) const;
  // Milliseconds since the epoch, within +-2^47 (4,000 years): a value beyond is clamped.
  [[nodiscard]] int64_t online_at() const {
    return static_cast<int64_t>(at_and_name_ << kNameBits) >> kNameBits;  // sign-extended
  }
  [[nodiscard]] std::string_view name() const {
    return std::string_view(text_).substr(ref_bytes(), name_bytes());
  }
  // Empty = absent.
  [[nodiscard]] std::string_view device() const {
    return std::string_view(text_).substr(ref_bytes() + name_bytes());
  }

  friend bool operator==(const PresenceMeta& a, const PresenceMeta& b) {
    return a.online_at() == b.online_at() && a.name() == b.name() && a.device() == b.device() &&
           a.same_ref(b);
  }

 private:
  // online_at in the low 48 bits, the name's length (at most 65,535 bytes kept) in the top 16.
  static constexpr unsigned kNameBits = 16;
  static constexpr unsigned kAtBits = 64 - kNameBits;
  // ref_: a local meta's shard << 48 | serial (serial > 0, shard below 2^15), or kTextRef | the
  // length of the phx_ref at the front of text_ (0 for a default meta: no phx_ref).
  static constexpr uint64_t kTextRef = uint64_t{1} << 63;

  [[nodiscard]] bool is_local() const { return ref_ != 0 && (ref_ & kTextRef) == 0; }
  [[nodiscard]] size_t ref_bytes() const { return is_local() ? 0 : ref_ & ~kTextRef; }
  [[nodiscard]] size_t name_bytes() const { return at_and_name_ >> kAtBits; }

  std::string text_;  // [phx_ref unless local] name device
  uint64_t at_and_name_ = 0;
  uint64_t ref_ = 0;
};
static_assert(sizeof(PresenceMeta) <= 48);

}  // namespace rtchat::proto
