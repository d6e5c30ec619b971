// One client connection: shard-local, created, used and destroyed on the shard that accepted
// it. Named across threads only by ConnRef {shard, slot, generation}.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <wslay/wslay.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/jwt.h"
#include "proto/messages.h"
#include "server/messages/shard_message.h"
#include "server/net/http_request.h"
#include "server/net/outbound_queue.h"
#include "server/net/peer_address.h"
#include "server/net/ws_frame.h"
#include "server/shard/join_limits.h"

namespace rtchat::server {

inline constexpr std::string_view kRoomTopicPrefix = "room:";

class Session;
struct Connection;

// wslay's user data (wslay_event_context_server_init): one per shard, shared by its contexts.
// Its callbacks reach the session layer and the connection being read through it, with no
// thread-local. `conn` and `input` are set only while wslay_event_recv runs.
struct WslayUser {
  Session* session = nullptr;
  Connection* conn = nullptr;
  std::string_view input;  // bytes being fed to wslay
};

struct WslayDeleter {
  void operator()(wslay_event_context* ctx) const { wslay_event_context_free(ctx); }
};
using WslayContext = std::unique_ptr<wslay_event_context, WslayDeleter>;

// A live frame held back while a recovering join's catch-up is on its way.
struct HeldFrame {
  int64_t message_id;  // 0 = not a chat message (presence diff, typing): always delivered
  core::SharedFrame frame;
};

// A recovering join's catch-up state: live frames held until the missed messages are queued,
// and the presence_state that waits for them. Only while catching up: a joined idle channel
// carries none of it.
struct CatchupHold {
  std::vector<HeldFrame> held;
  size_t held_bytes = 0;  // counted against the connection's outbound cap, like queued frames
  core::SharedFrame pending_state;
  core::SharedFrame pending_state_tail;  // JoinAccepted::presence_state_tail
};

// Who a socket is, from its verified token. Inline what every socket reads (sub, name, exp); the
// optional claims (rooms, role, moderate) only when the token has any: an idle socket carries a
// null pointer instead of ~120 bytes of empty strings and optionals (nbf and iat are not needed
// after the upgrade).
struct SocketIdentity {
  SocketIdentity() = default;
  SocketIdentity(std::string_view sub, std::string_view name, int64_t expires)
      : exp(expires), sub_bytes_(static_cast<uint8_t>(sub.size())) {
    who_.reserve(sub.size() + name.size());
    who_.append(sub).append(name);
  }
  int64_t exp = 0;
  std::unique_ptr<const proto::JwtClaims> limits;  // rooms/role/moderate; null: none

  // sub (at most proto::kMaxJwtSubBytes) and name share one string: one allocation at most.
  [[nodiscard]] std::string_view sub() const {
    return std::string_view(who_).substr(0, sub_bytes_);
  }
  [[nodiscard]] std::string_view name() const { return std::string_view(who_).substr(sub_bytes_); }

  static SocketIdentity from(proto::JwtClaims&& claims) {
    static_assert(proto::kMaxJwtSubBytes <= UINT8_MAX);
    SocketIdentity id(claims.sub, claims.name, claims.exp);
    if (claims.rooms || !claims.role.empty() || claims.moderate) {
      auto limits = std::make_unique<proto::JwtClaims>();
      limits->rooms = std::move(claims.rooms);
      limits->role = std::move(claims.role);
      limits->moderate = std::move(claims.moderate);
      id.limits = std::move(limits);
    }
    return id;
  }
  [[nodiscard]] bool room_allowed(std::string_view room) const {
    return !limits || proto::room_allowed(*limits, room);
  }
  [[nodiscard]] bool may_moderate(std::string_view room) const {
    return limits && proto::may_moderate(*limits, room);
  }

 private:
  std::string who_;  // sub then name
  uint8_t sub_bytes_ = 0;
};

// A channel's topic, its join_ref and its join push's ref (echoed in the join's reply), either
// ref possibly null, in one string: the topic's bytes, then join_ref's, then the push ref's.
// Every idle member holds one: a topic and refs in one string are at most one allocation (a
// topic past the string's inline 15 bytes), where three strings took 96 bytes of headers. A
// topic is a room topic (kRoomPrefix + at most 64 bytes) and refs are at most proto's
// kMaxRefBytes (64) each, so one byte holds each length.
class ChannelNames {
 public:
  ChannelNames() = default;
  ChannelNames(std::string_view topic, const std::optional<std::string>& join_ref,
               const std::optional<std::string>& push) {
    static_assert(proto::kMaxRefBytes <= UINT8_MAX);
    bytes_.reserve(topic.size() + (join_ref ? join_ref->size() : 0) + (push ? push->size() : 0));
    bytes_.append(topic);
    topic_bytes_ = static_cast<uint8_t>(bytes_.size());
    if (join_ref) bytes_ += *join_ref;
    join_bytes_ = static_cast<uint8_t>(bytes_.size() - topic_bytes_);
    if (push) bytes_ += *push;
    has_join_ = join_ref.has_value();
    has_push_ = push.has_value();
  }
  [[nodiscard]] std::string_view topic() const {
    return std::string_view(bytes_).substr(0, topic_bytes_);
  }
  [[nodiscard]] std::optional<std::string> join_ref() const {
    if (!has_join_) return std::nullopt;
    return std::string(join_view());
  }
  [[nodiscard]] std::optional<std::string> push_ref() const {
    if (!has_push_) return std::nullopt;
    return bytes_.substr(topic_bytes_ + join_bytes_);
  }
  // A later push's join_ref names this join (both null counts as the same).
  [[nodiscard]] bool same_join(const std::optional<std::string>& join_ref) const {
    if (!join_ref) return !has_join_;
    return has_join_ && join_view() == *join_ref;
  }

 private:
  [[nodiscard]] std::string_view join_view() const {
    return std::string_view(bytes_).substr(topic_bytes_, join_bytes_);
  }
  std::string bytes_;
  uint8_t topic_bytes_ = 0;
  uint8_t join_bytes_ = 0;
  bool has_join_ = false;
  bool has_push_ = false;
};

// One room joined (or being joined) on this connection. Kept small: every idle member holds one
// (56 bytes: one std::vector<Channel> block of 64 per socket in one room).
struct Channel {
  // "room:<id>" (the room id is its tail: room()), join_ref and the join's ref (echoed in its
  // reply). no_unique_address: is_joined sits in its tail padding.
  [[no_unique_address]] ChannelNames names;
  bool is_joined = false;  // owner confirmed (JoinAccepted)
  JoinId join_id = 0;      // this join's id: the owner's answers are matched by it, not by topic
  // A recovering join is answered only once its catch-up is loaded (so the answer can say
  // whether it fits); set while CatchupReady is pending: live frames go to catchup->held.
  std::unique_ptr<CatchupHold> catchup;
  [[nodiscard]] std::string_view topic() const { return names.topic(); }
  [[nodiscard]] bool catching_up() const { return catchup != nullptr; }
  [[nodiscard]] size_t held_bytes() const { return catchup ? catchup->held_bytes : 0; }
  [[nodiscard]] std::string_view room() const { return topic().substr(kRoomTopicPrefix.size()); }
};
static_assert(sizeof(Channel) <= 56);

enum class Phase : uint8_t {
  Http,       // reading an HTTP request
  WebSocket,  // upgraded
  Closing,    // close frame / response queued: flush, then shut down
  Lingering,  // our side is shut down for writing; input is read and dropped until EOF
  Dead,       // final close submitted; slot freed when the last CQE arrives
};

struct Connection {
  ConnRef ref;
  int file_index = -1;  // io_uring registered-file index (the socket holds no process fd)
  PeerAddress peer_ip;  // its text is counted in SharedState::sockets_per_ip until release
  Phase phase = Phase::Http;
  bool recv_armed = false;
  bool send_inflight = false;
  bool close_done = false;
  bool dirty = false;                  // in the shard's flush list
  bool counts_as_user_socket = false;  // holds one of SharedState::sockets_per_user
  bool rearm_recv = false;             // multishot recv ended with ENOBUFS: re-arm at end of turn
  bool is_too_slow = false;            // over the outbound cap, close pending
  bool history_pending = false;        // a history page is being read: one at a time
  bool is_head_request = false;        // the request was HEAD: respond() sends the headers only
  bool ws_idle_tick = false;           // no bytes since the last sweep
  // token_expiring was pushed for the token's exp: once per token (a refresh to another exp
  // clears it; a verified token always has an exp).
  bool expiry_noticed = false;
  WireFormat format = WireFormat::Json;
  unsigned strikes = 0;  // flood strikes (inbound rate limit below)
  // Live frames held for recovering joins (all channels): at most the outbound cap (<= 1 GiB,
  // config) plus one frame, as holding stops once the cap is passed.
  uint32_t held_bytes = 0;
  int64_t deadline_ms = 0;  // handshake deadline (Http) or flush deadline (Closing)
  int64_t last_rx_ms = 0;

  HttpParserSlot http;  // a parser only while a request is partly read
  // Held only while a frame or a fragmented message is partly read, or a close is under way;
  // between messages it goes back to the session's spares (Session::feed_wslay).
  WslayContext ws;
  FrameBoundary frames;  // where the inbound stream is, to know when ws may be given back

  // Identity, from the verified token only.
  SocketIdentity claims;

  std::vector<Channel> channels;

  OutboundQueue out;
  // The in-flight sendmsg's arguments, allocated only while a send is in flight.
  struct SendState {
    iovec iov[OutboundQueue::kMaxIov];
    msghdr msg;
  };
  std::unique_ptr<SendState> send;

  JoinId last_join_id = 0;  // the counter JoinId comes from (never reused on this connection)
  // Joins per topic, on top of the push rate limit below (server/shard/join_limits.h): inline
  // for a socket's first two topics, a table only beyond.
  TopicJoinBudgets join_budgets;
  bool take_topic_join(std::string_view topic, int64_t now_ms) {
    return join_budgets.try_take(topic, now_ms);
  }
  void prune_join_budgets(int64_t now_ms) { join_budgets.prune(now_ms); }

  // Inbound rate limit (token bucket); its strikes are above.
  double tokens = 0;
  int64_t tokens_at_ms = 0;
  int64_t last_typing_ms = 0;

  // Removes a channel and returns it; its held frames stop counting against the outbound cap.
  Channel take_channel(Channel* ch) {
    held_bytes -= static_cast<uint32_t>(ch->held_bytes());
    Channel taken = std::move(*ch);
    channels.erase(channels.begin() + (ch - channels.data()));
    return taken;
  }

  Channel* find_channel(std::string_view topic) {
    for (auto& c : channels) {
      if (c.topic() == topic) return &c;
    }
    return nullptr;
  }
};

}  // namespace rtchat::server
