// Token refresh without reconnecting (docs/protocol.md "Token refresh"): the sweep pushes
// token_expiring once per token, --token-refresh-notice-secs before it expires; a refresh push
// on topic "phoenix" with a valid token of the same user moves the socket's expiry deadline (the
// sweep's 4001 check reads claims.exp). Only exp moves: the rooms claim and the name of the
// token the socket connected with stay (new rights need a new connection).
#include "core/clock.h"
#include "server/shard/session.h"

namespace rtchat::server {
namespace {

// The error reply's reason for a refused token (docs/protocol.md).
std::string_view refresh_refusal(proto::JwtError error) {
  return error == proto::JwtError::Expired ? "token_expired" : "invalid_token";
}

}  // namespace

void Session::notify_token_expiring(Connection& c, int64_t now_s) {
  const int64_t exp = c.claims.exp;
  if (c.expiry_noticed) return;  // once per token
  // exp - now_s cannot overflow while exp > now_s >= 0.
  if (exp > now_s && exp - now_s > config_.token_refresh_notice_s) return;
  c.expiry_noticed = true;
  table_.queue_frame(c, replies_.encode_token_expiring(c.format, exp));
}

void Session::refresh(Connection& c, proto::ClientMessage& m) {
  proto::JwtClaims fresh;
  proto::JwtError error =
      m.payload_valid ? proto::verify_jwt(m.token, config_.jwt_secret, core::unix_millis() / 1000,
                                          config_.jwt_leeway_s, fresh)
                      : proto::JwtError::Malformed;
  if (error == proto::JwtError::None && fresh.sub != c.claims.sub()) {
    metrics_.token_refresh_refused.add();
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, "wrong_subject");
  }
  if (error != proto::JwtError::None) {
    metrics_.token_refresh_refused.add();
    return replies_.send_error(c, m.join_ref, m.ref, m.topic, refresh_refusal(error));
  }
  metrics_.token_refreshes.add();
  if (fresh.exp != c.claims.exp) c.expiry_noticed = false;  // the new token is noticed anew
  c.claims.exp = fresh.exp;
  proto::Reply ok;
  ok.join_ref = m.join_ref;
  ok.ref = m.ref;
  ok.topic = m.topic;
  ok.body.kind = proto::ReplyBody::Kind::Refresh;
  ok.body.exp = fresh.exp;
  replies_.send(c, std::move(ok));
}

}  // namespace rtchat::server
