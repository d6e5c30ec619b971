// The session's WebSocket half: wslay glue, frame checks before wslay, closes.
#include "server/shard/session.h"

#include <algorithm>
#include <cstring>

#include "core/clock.h"
#include "proto/binary_codec.h"
#include "proto/display_text.h"
#include "proto/phoenix_codec.h"
#include "server/log.h"
#include "server/net/ws_frame.h"

namespace rtchat::server {
namespace {

// A close frame's payload is at most 125 bytes: the code and 123 bytes of reason.
constexpr size_t kMaxCloseReasonBytes = 123;

// wslay queues its own closes (invalid UTF-8, an invalid close code from the client, a framing
// error) with a bare code, and its API can neither add a reason nor withdraw the queued close:
// those closes are given their reason as they leave.
std::string_view reason_for(uint16_t code) {
  switch (code) {
    case 1002:
      return close_reason::kProtocolError;
    case 1007:
      return close_reason::kInvalidUtf8;
    case 1009:
      return close_reason::kTooBig;
    default:
      return {};
  }
}

}  // namespace

const wslay_event_callbacks Session::kCallbacks = {
    Session::wslay_recv,   Session::wslay_send, nullptr, nullptr, nullptr, nullptr,
    Session::wslay_on_msg,
};

Session::Session(unsigned index, const ServerConfig& config, ConnectionTable& table,
                 Replies& replies, MemberRooms& members, OutboundPort& out, SocketPort& socket,
                 core::KeyedCounters& sockets_per_user, ShardMetrics& metrics)
    : index_(index),
      config_(config),
      table_(table),
      replies_(replies),
      members_(members),
      out_(out),
      socket_(socket),
      sockets_per_user_(sockets_per_user),
      metrics_(metrics) {}

ssize_t Session::wslay_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int,
                            void* user) {
  std::string_view& input = static_cast<WslayUser*>(user)->input;
  if (input.empty()) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = std::min(len, input.size());
  std::memcpy(buf, input.data(), n);
  input.remove_prefix(n);
  return static_cast<ssize_t>(n);
}

ssize_t Session::wslay_send(wslay_event_context_ptr, const uint8_t* data, size_t len, int,
                            void* user) {
  static_cast<WslayUser*>(user)->session->wslay_out_.append(reinterpret_cast<const char*>(data),
                                                            len);
  return static_cast<ssize_t>(len);
}

void Session::wslay_on_msg(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg,
                           void* user) {
  auto* u = static_cast<WslayUser*>(user);
  if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
    u->session->on_message(*u->conn, arg->opcode,
                           {reinterpret_cast<const char*>(arg->msg), arg->msg_length});
  }
}

bool Session::ensure_wslay(Connection& c) {
  if (c.ws) return true;
  if (spare_ws_.take(c.ws)) return true;
  wslay_event_context_ptr ctx = nullptr;
  if (wslay_event_context_server_init(&ctx, &kCallbacks, &ws_user_) != 0) return false;
  wslay_event_config_set_max_recv_msg_length(ctx, config_.max_message_bytes);
  c.ws.reset(ctx);
  return true;
}

bool Session::give_back_wslay(Connection& c) {
  wslay_event_context* ctx = c.ws.get();
  if (ctx == nullptr || c.phase != Phase::WebSocket || !c.frames.at_message_boundary() ||
      wslay_event_want_write(ctx) || !wslay_event_get_read_enabled(ctx) ||
      wslay_event_get_close_received(ctx) || wslay_event_get_close_sent(ctx)) {
    return false;
  }
  spare_ws_.give(c.ws);
  c.ws.reset();  // kept (moved from) or, past the bound, freed
  return true;
}

bool Session::release_idle(Connection& c) {
  bool released = c.ws_idle_tick && give_back_wslay(c);
  c.ws_idle_tick = true;
  c.prune_join_budgets(core::mono_millis());  // an idle socket keeps no join budget table
  if (!c.send_inflight) c.out.release_if_empty();
  return released;
}

void Session::start(Connection& c, std::string_view leftover) {
  table_.http_ended();
  c.phase = Phase::WebSocket;
  c.last_rx_ms = core::mono_millis();
  metrics_.websockets_open.increment();
  if (!leftover.empty()) on_bytes(c, leftover);
}

void Session::end(Connection& c) {
  metrics_.websockets_open.decrement();
  if (c.counts_as_user_socket) {
    sockets_per_user_.release(c.claims.sub());
    c.counts_as_user_socket = false;
  }
  members_.leave_all(c);
}

void Session::on_bytes(Connection& c, std::string_view bytes) {
  // Headers are checked before wslay sees them: wslay answers a framing error with an empty close
  // frame, and an oversized frame only once its payload starts to arrive. Complete frames before
  // the offending header still reach wslay, so their replies go out before the close.
  FrameVerdict verdict = c.frames.feed(bytes, config_.max_message_bytes);
  std::string_view valid = verdict.ok() ? bytes : bytes.substr(0, verdict.valid_prefix);
  if (!valid.empty()) feed_wslay(c, valid);
  // No-op when the connection is closed already (wslay met a bad frame before the bad header).
  if (!verdict.ok()) close(c, verdict.close_code, verdict.reason);
}

void Session::feed_wslay(Connection& c, std::string_view valid) {
  if (!ensure_wslay(c)) return socket_.abort(c);
  c.ws_idle_tick = false;
  ws_user_.conn = &c;
  ws_user_.input = valid;
  receiving_ = &c;
  int rv = wslay_event_recv(c.ws.get());
  receiving_ = nullptr;
  ws_user_ = WslayUser{this, nullptr, {}};
  if (c.phase != Phase::WebSocket) return;  // aborted meanwhile
  if (rv != 0 && !wslay_event_get_close_sent(c.ws.get()) && !wslay_event_want_write(c.ws.get())) {
    return close(c, Close::Internal);
  }
  // Replies queued by the messages, then what wslay queued (pongs, a close: its own, or one the
  // session asked for while wslay was reading).
  collect_wslay_output(c);
  give_back_wslay(c);
}

void Session::close(Connection& c, Close which) {
  CloseSpec spec = close_spec(which);
  close(c, static_cast<uint16_t>(spec.code), spec.reason);
}

void Session::close(Connection& c, uint16_t code, std::string_view reason) {
  if (c.phase != Phase::WebSocket) return;
  LOG_DEBUG("ws_close", "shard=%u slot=%u code=%u reason=\"%.*s\"", index_, c.ref.slot, code,
            static_cast<int>(reason.size()), reason.data());
  if (!ensure_wslay(c)) return socket_.abort(c);
  reason = proto::utf8_prefix(reason, kMaxCloseReasonBytes);  // valid UTF-8, whole characters
  // Fails only when a close is queued already (wslay's own): that one goes out instead.
  wslay_event_queue_close(c.ws.get(), code, reinterpret_cast<const uint8_t*>(reason.data()),
                          reason.size());
  // No message after the close is handled, even one already in this read.
  wslay_event_shutdown_read(c.ws.get());
  // Inside wslay_event_recv (a message callback) the output is collected when it returns.
  if (receiving_ != &c) collect_wslay_output(c);
}

void Session::collect_wslay_output(Connection& c) {
  wslay_out_.clear();
  if (wslay_event_send(c.ws.get()) != 0 && !wslay_event_get_close_sent(c.ws.get())) {
    return socket_.abort(c);  // not expected: our send callback takes every byte
  }
  // wslay writes only control frames (pong, close), each complete and unmasked (<= 125 bytes).
  uint16_t close_code_sent = 0;
  std::string_view out = wslay_out_;
  while (out.size() >= 2) {
    auto opcode = static_cast<uint8_t>(out[0]) & 0x0F;
    size_t len = static_cast<uint8_t>(out[1]) & 0x7F;
    size_t total = 2 + len;
    if (out.size() < total) break;
    const bool is_close = opcode == 0x8;
    if (is_close && len >= 2) {
      close_code_sent =
          static_cast<uint16_t>((static_cast<uint8_t>(out[2]) << 8) | static_cast<uint8_t>(out[3]));
    }
    if (is_close && len == 0 && !wslay_event_get_close_received(c.ws.get())) {
      // wslay's own close for an error it met without a code: a framing error.
      close_code_sent = static_cast<uint16_t>(CloseCode::ProtocolError);
      table_.queue_close_frame(c, make_close_frame(close_code_sent, close_reason::kProtocolError));
    } else if (is_close && len == 2) {
      table_.queue_close_frame(c, make_close_frame(close_code_sent, reason_for(close_code_sent)));
    } else if (is_close) {
      // A close the session queued (with its reason), or the echo of a client's close.
      table_.queue_close_frame(c, core::SharedFrame::copy_of(out.substr(0, total)));
    } else {
      table_.queue_frame(c, core::SharedFrame::copy_of(out.substr(0, total)));  // a pong
    }
    out.remove_prefix(total);
  }
  if (wslay_event_get_close_sent(c.ws.get())) {
    metrics_.count_close(close_code_sent != 0 ? close_code_sent
                                              : wslay_event_get_status_code_sent(c.ws.get()));
    c.ws.reset();
    socket_.close_after_flush(c);
  }
}

void Session::on_message(Connection& c, uint8_t opcode, std::string_view payload) {
  if (c.phase != Phase::WebSocket) return;
  bool binary_frame = opcode == WSLAY_BINARY_FRAME;
  if (binary_frame != (c.format == WireFormat::Binary)) return close(c, Close::UnsupportedData);
  proto::ClientMessage m;
  proto::DecodeError err = binary_frame ? proto::binary::decode_client(payload, m)
                                        : proto::phoenix::decode_client(payload, m);
  if (err != proto::DecodeError::None) {
    return close(c, binary_frame ? Close::BadBuffer : Close::NotEnvelope);
  }
  metrics_.messages_in.add();
  handle(c, m);
}

}  // namespace rtchat::server
