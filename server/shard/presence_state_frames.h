// One room's presence_state frames for every joiner of one owner loop turn, encoded once.
// A mass rejoin of a 10,000-member room would otherwise build and encode a ~1 MB state per joiner
// (2.6 ms each) and queue a private copy of it on every socket.
//  - JSON: the state object is encoded once into a tail shared by every joiner; each joiner gets a
//    small head frame (WebSocket header + `[join_ref,null,topic,"presence_state",`) so its own
//    join_ref is exact. Head then tail on the socket is byte for byte the frame encoded whole.
//  - Binary: the same split. FlatBuffers are built back to front, so the state, built first, ends
//    the buffer and the frame's table (with its join_ref) refers to it by a relative offset: the
//    state is encoded once into a shared tail, each distinct join_ref gets a head (8 cached).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/shared_frame.h"
#include "proto/messages.h"
#include "server/shard/presence_state_cache.h"

namespace rtchat::server {

class PresenceStateFrames {
 public:
  struct Frames {
    core::SharedFrame head;  // the frame's head: WebSocket header, envelope, join_ref
    core::SharedFrame tail;  // the shared rest of the frame: the state
  };

  // state must outlive this object (it is read lazily, once per format). scratch: the caller's
  // encoding buffer, kept across turns so a state is not encoded into a string grown from empty.
  PresenceStateFrames(std::string_view topic, const proto::PresenceStateView& state)
      : PresenceStateFrames(topic, state, own_scratch_) {}
  // cache (optional): the room's kept JSON state. When valid it is the JSON tail and state is not
  // read for JSON; when not, the state encoded here is kept in it.
  PresenceStateFrames(std::string_view topic, const proto::PresenceStateView& state,
                      std::string& scratch, PresenceStateCache* cache = nullptr, int64_t now_ms = 0)
      : topic_(topic), state_(state), scratch_(scratch), cache_(cache), now_ms_(now_ms) {}
  PresenceStateFrames(const PresenceStateFrames&) = delete;
  PresenceStateFrames& operator=(const PresenceStateFrames&) = delete;

  Frames for_join(bool binary, const std::optional<std::string>& join_ref);
  // Encodings of the state made so far (at most one per wire format).
  [[nodiscard]] size_t encodings() const { return encodings_; }

 private:
  Frames json_for(const std::optional<std::string>& join_ref);
  void encode_json_tail();
  Frames binary_for(const std::optional<std::string>& join_ref);

  static constexpr size_t kMaxCachedRefs = 8;

  std::string topic_;
  const proto::PresenceStateView& state_;
  core::SharedFrame json_tail_;
  core::SharedFrame binary_tail_;
  uint32_t binary_body_ = 0;  // where the state's table is in binary_tail_ (from its end)
  std::vector<std::pair<std::optional<std::string>, core::SharedFrame>> binary_heads_;
  std::string own_scratch_;
  std::string& scratch_;
  PresenceStateCache* cache_;
  int64_t now_ms_;
  size_t encodings_ = 0;
};

}  // namespace rtchat::server
