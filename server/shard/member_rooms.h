// The member side of rooms, on the shard that holds the connections: each connection's channels
// (join, leave, the owner's answer), which local connections are in which room, delivery of the
// owner's RoomBroadcast to them, and holding live frames while a recovering join's catch-up loads.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "proto/messages.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/shard/connection_table.h"
#include "server/shard/local_members.h"
#include "server/shard/ports.h"
#include "server/shard/replies.h"

namespace rtchat::server {

class MemberRooms {
 public:
  MemberRooms(const ServerConfig& config, ConnectionTable& table, Replies& replies,
              OutboundPort& out, ShardMetrics& metrics);

  // Drops what was kept for this turn only (the last catch-up's frames).
  void end_of_turn() {
    for (auto& e : last_catchup_) e = EncodedCatchup{};
  }

  // ---- from the connection's session (already rate-limited)
  // phx_join: checks topic, params and the token's rooms, replaces an earlier join of the same
  // topic, and asks the room's owner (JoinRoom); the answer comes back as JoinAccepted.
  void join(Connection& c, proto::ClientMessage& m);
  // phx_leave: ok reply, phx_close, LeaveRoom to the owner.
  void leave(Connection& c, proto::ClientMessage& m);
  // The connection leaves the WebSocket phase: every channel ends, each owner is told.
  void leave_all(Connection& c);

  // ---- from the rooms' owners
  void on_join_accepted(JoinAccepted&& m);
  void on_broadcast(RoomBroadcast&& b);
  void on_catchup_ready(CatchupReady&& m);
  // read_state to the user's other sockets here (read_state_member.cpp)
  void on_read_state_push(ReadStatePush&& p);

  [[nodiscard]] size_t local_members(const std::string& room) const;

 private:
  [[nodiscard]] unsigned owner_of(const std::string& room) const;
  // Removes the channel, its local membership and tells the owner (LeaveRoom).
  Channel end_channel(Connection& c, Channel* ch);
  void add_local_member(const std::string& room, const ConnRef& ref);
  void remove_local_member(const std::string& room, const ConnRef& ref);
  void release_held(Connection& c, Channel& ch, const CatchupReady& m);
  // The catch-up's frames in the connection's wire format, and their bytes.
  const std::vector<core::SharedFrame>& catchup_frames(WireFormat format, std::string_view topic,
                                                       const CatchupReady& m, size_t& bytes);

  const ServerConfig& config_;
  ConnectionTable& table_;
  Replies& replies_;
  OutboundPort& out_;
  ShardMetrics& metrics_;
  // room id -> local members (slot, generation) on this shard, indexed by connection when large.
  std::unordered_map<std::string, LocalMembers> local_rooms_;
  // The last catch-up encoded here, per wire format: joiners whose catch-ups share their
  // messages (one storage batch, SharedMessages) share its frames too. Dropped at the end of
  // the turn (end_of_turn), so no catch-up is held past it.
  struct EncodedCatchup {
    SharedMessages messages;
    std::vector<core::SharedFrame> frames;
    size_t bytes = 0;
  };
  EncodedCatchup last_catchup_[2];  // [WireFormat]
};

}  // namespace rtchat::server
