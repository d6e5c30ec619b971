// The WebSocket + Phoenix session of each connection on this shard, once upgraded: bytes through
// wslay (its callbacks reach this object through the connection's WslayUser, wslay's user data),
// client frames decoded, the rate limits, each push turned into its message (publish to the
// owner, history page from storage, typing) and the answers that come back as replies. Closes go
// through wslay_event_queue_close, so wslay sends them after what is already queued.
#pragma once

#include <wslay/wslay.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/keyed_counters.h"
#include "core/spare_list.h"
#include "proto/messages.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/net/close_reasons.h"
#include "server/shard/connection_table.h"
#include "server/shard/member_rooms.h"
#include "server/shard/ports.h"
#include "server/shard/replies.h"

namespace rtchat::server {

class Session {
 public:
  Session(unsigned index, const ServerConfig& config, ConnectionTable& table, Replies& replies,
          MemberRooms& members, OutboundPort& out, SocketPort& socket,
          core::KeyedCounters& sockets_per_user, ShardMetrics& metrics);

  // The upgrade response is queued: the connection speaks WebSocket from now on; leftover is
  // what the client sent after its request.
  void start(Connection& c, std::string_view leftover);
  void on_bytes(Connection& c, std::string_view bytes);
  // A close the server decides: the close frame goes after everything queued, then the socket
  // is closed (close-after-reply).
  void close(Connection& c, Close which);
  void close(Connection& c, uint16_t code, std::string_view reason);
  // The connection leaves the WebSocket phase: its rooms are left, its counts given back.
  void end(Connection& c);
  // Once a second: gives back the wslay context a connection kept since its last bytes (a frame
  // or message left partly read), once it is between messages. True when given back.
  bool release_idle(Connection& c);

  // ---- answers to pushes
  void on_publish_ack(PublishAck&& a);
  void on_mark_read_ack(MarkReadAck&& a);  // read_state_member.cpp
  // From the sweep: token_expiring once per token, --token-refresh-notice-secs before it
  // expires (session_token_refresh.cpp).
  void notify_token_expiring(Connection& c, int64_t now_s);
  void on_page_done(StorePageDone&& d);

 private:
  static ssize_t wslay_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int flags,
                            void* user);
  static ssize_t wslay_send(wslay_event_context_ptr ctx, const uint8_t* data, size_t len, int flags,
                            void* user);
  static void wslay_on_msg(wslay_event_context_ptr ctx, const wslay_event_on_msg_recv_arg* arg,
                           void* user);
  static const wslay_event_callbacks kCallbacks;

  bool ensure_wslay(Connection& c);
  // Between messages, with no close under way and nothing of wslay's own to send, a context is
  // in its initial state again: it goes back to the spares, so only connections in the middle of
  // a frame hold one (6.5 KB each; a storm of 10,000 upgrades held 65 MB of them before).
  bool give_back_wslay(Connection& c);
  void feed_wslay(Connection& c, std::string_view valid);
  void collect_wslay_output(Connection& c);
  void on_message(Connection& c, uint8_t opcode, std::string_view payload);
  void handle(Connection& c, proto::ClientMessage& m);
  bool take_rate_token(Connection& c);
  void handle_push(Connection& c, Channel& ch, proto::ClientMessage& m);
  void publish(Connection& c, Channel& ch, proto::ClientMessage& m);
  void history(Connection& c, Channel& ch, proto::ClientMessage& m);
  void typing(Connection& c, Channel& ch, proto::ClientMessage& m);
  void mark_read(Connection& c, Channel& ch, proto::ClientMessage& m);  // read_state_member.cpp
  void refresh(Connection& c, proto::ClientMessage& m);                 // session_token_refresh.cpp
  void delete_msg(Connection& c, Channel& ch, proto::ClientMessage& m);

  unsigned index_;
  const ServerConfig& config_;
  ConnectionTable& table_;
  Replies& replies_;
  MemberRooms& members_;
  OutboundPort& out_;
  SocketPort& socket_;
  core::KeyedCounters& sockets_per_user_;
  ShardMetrics& metrics_;
  Connection* receiving_ = nullptr;       // inside wslay_event_recv for this connection
  WslayUser ws_user_{this, nullptr, {}};  // the user data of every context of this session
  static constexpr size_t kMaxSpareWslay = 16;
  core::SpareList<WslayContext> spare_ws_{kMaxSpareWslay};  // contexts between uses
  std::string wslay_out_;  // bytes wslay wrote during one wslay_event_send
};

}  // namespace rtchat::server
