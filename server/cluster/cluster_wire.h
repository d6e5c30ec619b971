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

// Keys per room. One pub/sub channel per room carries both messages ('m') and presence ('p').
std::string channel_key(std::string_view room);   // rtchat:chan:<room>
std::string log_key(std::string_view room);       // rtchat:log:<room>   (stream: the history)
std::string seq_key(std::string_view room);       // rtchat:seq:<room>   (INCR: the order)
std::string presence_key(std::string_view room);  // rtchat:pres:<room>  (hash: node|ref -> meta)
std::string node_key(std::string_view node);      // rtchat:node:<node>  (liveness, PX ttl)
inline constexpr std::string_view kChannelPrefix = "rtchat:chan:";

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

// The tail of a message payload after its id: lp(ts) lp(user_id) lp(user) lp(body). The Lua
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

// Presence hash: field "<node>|<phx_ref>", value lp(user) lp(online_at) lp(name) lp(device).
std::string presence_field(std::string_view node, std::string_view phx_ref);
std::string presence_value(const ClusterMeta& m);
[[nodiscard]] bool parse_presence_entry(std::string_view field, std::string_view value,
                                        ClusterMeta& out);

}  // namespace rtchat::server::cluster
