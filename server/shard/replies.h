// Phoenix replies to one connection, encoded in its wire format and queued on it: what the
// session and the member side answer with (ok, error, join ok, phx_close, a message frame).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proto/messages.h"
#include "server/shard/connection_table.h"
#include "server/shard/frame_encoder.h"

namespace rtchat::server {

class Replies {
 public:
  Replies(ConnectionTable& table, FrameEncoder& encoder) : table_(table), encoder_(encoder) {}

  void send(Connection& c, proto::Reply&& reply);
  // An ok with an empty response, echoing the push's refs.
  void send_ok(Connection& c, const std::optional<std::string>& join_ref,
               const std::optional<std::string>& ref, std::string_view topic);
  void send_error(Connection& c, const std::optional<std::string>& join_ref,
                  const std::optional<std::string>& ref, std::string_view topic,
                  std::string_view reason);
  // The join's ok; recovered is sent when the join asked to recover (last_seen_id).
  void send_join_ok(Connection& c, const Channel& ch, std::optional<bool> recovered);
  // phx_close for a channel the server ends (a second join replaces the first; a leave).
  void send_channel_close(Connection& c, const Channel& ch);
  core::SharedFrame encode_new_msg(WireFormat format, const proto::ChatMessage& msg,
                                   std::string_view topic);
  ConnectionTable& table() { return table_; }

 private:
  ConnectionTable& table_;
  FrameEncoder& encoder_;
};

}  // namespace rtchat::server
