#include "server/shard/replies.h"

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::server {

void Replies::send(Connection& c, proto::Reply&& reply) {
  table_.queue_frame(c,
                     encoder_.encode(
                         c.format, [&](std::string& o) { proto::phoenix::encode_reply(reply, o); },
                         [&](std::string& o) { proto::binary::encode_reply(reply, o); }));
}

void Replies::send_ok(Connection& c, const std::optional<std::string>& join_ref,
                      const std::optional<std::string>& ref, std::string_view topic) {
  proto::Reply ok;
  ok.join_ref = join_ref;
  ok.ref = ref;
  ok.topic = std::string(topic);
  send(c, std::move(ok));
}

void Replies::send_error(Connection& c, const std::optional<std::string>& join_ref,
                         const std::optional<std::string>& ref, std::string_view topic,
                         std::string_view reason) {
  proto::Reply r;
  r.join_ref = join_ref;
  r.ref = ref;
  r.topic = std::string(topic);
  r.status = proto::ReplyStatus::Error;
  r.body.kind = proto::ReplyBody::Kind::Error;
  r.body.reason = std::string(reason);
  send(c, std::move(r));
}

void Replies::send_join_ok(Connection& c, const Channel& ch, std::optional<bool> recovered,
                           std::optional<int64_t> last_read_id, int unread) {
  proto::Reply ok;
  ok.join_ref = ch.names.join_ref();
  ok.ref = ch.names.push_ref();  // phoenix.js sends ref == join_ref; echo what the client sent
  ok.topic = std::string(ch.topic());
  if (recovered || last_read_id) {
    ok.body.kind = proto::ReplyBody::Kind::Join;
    ok.body.recovered = recovered;
    ok.body.last_read_id = last_read_id;
    ok.body.unread = unread;
  }
  send(c, std::move(ok));
}

void Replies::send_channel_close(Connection& c, const Channel& ch) {
  table_.queue_frame(c, encoder_.encode(
                            c.format,
                            [&](std::string& o) {
                              proto::phoenix::encode_close(ch.names.join_ref(), ch.topic(), o);
                            },
                            [&](std::string& o) {
                              proto::binary::encode_close(ch.names.join_ref(), ch.topic(), o);
                            }));
}

core::SharedFrame Replies::encode_new_msg(WireFormat format, const proto::ChatMessage& msg,
                                          std::string_view topic) {
  if (msg.delete_target != 0) {  // a delete event (moderation): msg_deleted
    return encoder_.encode(
        format, [&](std::string& o) { proto::phoenix::encode_msg_deleted(topic, msg, o); },
        [&](std::string& o) { proto::binary::encode_msg_deleted(topic, msg, o); });
  }
  return encoder_.encode(
      format, [&](std::string& o) { proto::phoenix::encode_new_msg(topic, msg, o); },
      [&](std::string& o) { proto::binary::encode_new_msg(topic, msg, o); });
}

core::SharedFrame Replies::encode_read_state(WireFormat format, std::string_view topic,
                                             int64_t last_read_id) {
  return encoder_.encode(
      format, [&](std::string& o) { proto::phoenix::encode_read_state(topic, last_read_id, o); },
      [&](std::string& o) { proto::binary::encode_read_state(topic, last_read_id, o); });
}

core::SharedFrame Replies::encode_token_expiring(WireFormat format, int64_t exp) {
  return encoder_.encode(
      format, [&](std::string& o) { proto::phoenix::encode_token_expiring(exp, o); },
      [&](std::string& o) { proto::binary::encode_token_expiring(exp, o); });
}

}  // namespace rtchat::server
