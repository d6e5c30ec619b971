// A room's presence_state object, kept encoded (JSON) between loop turns while joins only add
// users. A storm of joins into a room then encodes one entry per join instead of the room's whole
// state per turn: profiled in a storm into rooms of 100, encoding the state and walking the room's
// map were ~12 % of the server's CPU, and a 10,000-member mass rejoin encoded ~1 MB per turn.
//  - A join of a user not yet in the room appends that user's entry.
//  - Any other change (a user's second socket, a leave) drops the text. The next join turn encodes
//    the state whole (in key order) and keeps it again.
// So entries follow join order after the first encoding: a JSON object's order carries no
// meaning (Phoenix's Presence reads the state as a map). Binary joiners and cluster rooms (other
// nodes' metas merged in) encode from the records as before. The text is released once the room
// has had no join turn for kIdleMs, so an idle room holds none of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/phoenix_codec.h"

namespace rtchat::server {

class PresenceStateCache {
 public:
  static constexpr int64_t kIdleMs = 2000;
  // Below this a state is cheap to encode again each turn, and kept texts growing by doubling
  // in thousands of small rooms left their old blocks as holes between the idle sockets' records
  // after a storm (39,000 sockets in rooms of 100: ~60-90 bytes a socket).
  static constexpr size_t kMinKeptBytes = 16 * 1024;

  [[nodiscard]] bool valid() const { return valid_; }
  // `"user":{"metas":[...]},...`: the object without its braces.
  [[nodiscard]] std::string_view entries() const { return text_; }

  void add_user(std::string_view user, const proto::PresenceMeta& meta) {
    if (!valid_) return;
    if (!text_.empty()) text_.push_back(',');
    proto::phoenix::append_presence_entry(text_, user, meta);
  }
  void invalidate() {
    valid_ = false;
    text_.clear();
  }
  // object: the state encoded whole, `{...}`. A small state is not kept (kMinKeptBytes).
  void keep(std::string_view object, int64_t now_ms) {
    if (object.size() < kMinKeptBytes) return;
    text_.assign(object.substr(1, object.size() - 2));
    valid_ = true;
    used_ms_ = now_ms;
  }
  void used(int64_t now_ms) { used_ms_ = now_ms; }
  void release_if_idle(int64_t now_ms) {
    if (now_ms - used_ms_ < kIdleMs || text_.capacity() == std::string().capacity()) return;
    std::string().swap(text_);
    valid_ = false;
  }

 private:
  std::string text_;
  int64_t used_ms_ = 0;
  bool valid_ = false;
};

}  // namespace rtchat::server
