// What cluster nodes write to Redis and to each other through it (docs/cluster.md): key names
// and the byte formats of pub/sub payloads and presence hash entries. Pure functions, no I/O.
//
// Strings are length-prefixed ("<decimal length>:<bytes>"), so user names and bodies may hold any
// byte. A parse error yields false (a malformed payload from Redis is logged and skipped).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/messages.h"
#include "server/messages/cluster_messages.h"

namespace rtchat::server::cluster {

// An id read back from Redis (a pub/sub payload, a stream entry) is used only from 1 up to
// 2^53 - 1: what a JavaScript client holds exactly and what the publish script's Lua numbers
// count exactly. Anything else is a corrupt or forged entry: dropped, so it can neither overflow
// `last_delivered + 1` nor push a room's sequence out of range.
inline bool valid_message_id(int64_t id) { return id >= 1 && id < (int64_t{1} << 53); }

// Keys per room. One pub/sub channel per room carries both messages ('m') and presence ('p').
std::string channel_key(std::string_view room);   // rtchat:chan:<room>
std::string log_key(std::string_view room);       // rtchat:log:<room>   (stream: the history)
std::string seq_key(std::string_view room);       // rtchat:seq:<room>   (INCR: the order)
std::string presence_key(std::string_view room);  // rtchat:pres:<room>  (hash: node|ref -> meta)
std::string node_key(std::string_view node);      // rtchat:node:<node>  (liveness, PX ttl)
inline constexpr std::string_view kChannelPrefix = "rtchat:chan:";
// Node-wide commands (the server API's disconnect): one channel every node subscribes to.
inline constexpr std::string_view kControlChannel = "rtchat:ctl";
inline constexpr std::string_view kPresencePrefix = "rtchat:pres:";

// The key names of one mode. One Redis (redis://): the plain names above, unchanged. Redis
// Cluster (redis-cluster://): the room is a hash tag, rtchat:seq:{<room>} and so on, so that every
// key and the channel of a room live in one slot (the publish script touches three keys, which
// Redis Cluster allows only within one slot) and rooms spread over the masters by their name.
// Node liveness keys carry no tag: they spread over the slots too.
class Keys {
 public:
  explicit Keys(bool tagged) : tagged_(tagged) {}
  bool tagged() const { return tagged_; }
  std::string channel(std::string_view room) const { return named(kChannelPrefix, room); }
  std::string log(std::string_view room) const { return named("rtchat:log:", room); }
  std::string seq(std::string_view room) const { return named("rtchat:seq:", room); }
  std::string presence(std::string_view room) const { return named(kPresencePrefix, room); }
  std::string node(std::string_view node) const { return node_key(node); }
  // The room of one of our channel / presence key names; false for anything else.
  bool room_of_channel(std::string_view channel, std::string& room) const {
    return room_of(kChannelPrefix, channel, room);
  }
  bool room_of_presence(std::string_view key, std::string& room) const {
    return room_of(kPresencePrefix, key, room);
  }

 private:
  std::string named(std::string_view prefix, std::string_view room) const;
  bool room_of(std::string_view prefix, std::string_view name, std::string& room) const;
  bool tagged_;
};

void append_lp(std::string& out, std::string_view s);
void append_lp(std::string& out, int64_t v);

// A cursor over length-prefixed fields.
class LpReader {
 public:
  explicit LpReader(std::string_view in) : in_(in) {}
  [[nodiscard]] bool next(std::string_view& out);
  [[nodiscard]] bool next_int(int64_t& out);
  [[nodiscard]] bool next_char(char& out);
  [[nodiscard]] bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// The tail of a message payload after its id: lp(ts) lp(user_id) lp(user) lp(body), then
// lp(delete_target) for a delete event only (moderation; older nodes' messages lack it). The Lua
// script prepends 'm' lp(id) once Redis has assigned the id.
std::string message_tail(const proto::ChatMessage& m);
[[nodiscard]] bool parse_message(std::string_view payload, std::string_view room,
                                 proto::ChatMessage& out);

// Presence payload: 'p' lp(node) then records '+'|'-' lp(user) lp(ref) lp(online_at) lp(name)
// lp(device).
std::string presence_payload(std::string_view node, const std::vector<ClusterMeta>& joins,
                             const std::vector<ClusterMeta>& leaves);
[[nodiscard]] bool parse_presence(std::string_view payload, std::vector<ClusterMeta>& joins,
                                  std::vector<ClusterMeta>& leaves, std::string& node);

// Typing payload: 't' lp(node) lp(user_id) lp(user).
std::string typing_payload(std::string_view node, std::string_view user_id, std::string_view user);
[[nodiscard]] bool parse_typing(std::string_view payload, std::string& node, std::string& user_id,
                                std::string& user);

// Read state payload: 'r' lp(node) lp(user_id) lp(last_read_id): a mark stored on node, for the
// user's sockets on the other nodes (docs/cluster.md "Read state across nodes").
std::string read_state_payload(std::string_view node, std::string_view user_id,
                               int64_t last_read_id);
[[nodiscard]] bool parse_read_state(std::string_view payload, std::string& node,
                                    std::string& user_id, int64_t& last_read_id);
// Disconnect payload (server API): 'x' lp(node) lp(user_id) lp(close reason).
std::string disconnect_payload(std::string_view node, std::string_view user_id,
                               std::string_view reason);
[[nodiscard]] bool parse_disconnect(std::string_view payload, std::string& node,
                                    std::string& user_id, std::string& reason);
// Data loss notice: 'l' lp(node). A node that found a master's data gone asks every other node
// to check its own canaries now (and raise its rooms' sequences) instead of at its next beat.
std::string loss_payload(std::string_view node);
[[nodiscard]] bool parse_loss(std::string_view payload, std::string& node);

// Presence hash: field "<node>|<phx_ref>", value lp(user) lp(online_at) lp(name) lp(device).
std::string presence_field(std::string_view node, std::string_view phx_ref);
std::string presence_value(const ClusterMeta& m);
[[nodiscard]] bool parse_presence_entry(std::string_view field, std::string_view value,
                                        ClusterMeta& out);

}  // namespace rtchat::server::cluster
