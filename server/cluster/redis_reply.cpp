#include "server/cluster/redis_reply.h"

#include <charconv>

#include "server/cluster/cluster_wire.h"

namespace rtchat::server {

std::string_view reply_text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

int64_t reply_int(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  int64_t v = 0;
  auto s = reply_text(r);
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool parse_stream_entry(const redisReply* e, std::string_view room, proto::ChatMessage& out) {
  if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2) return false;
  auto id = reply_text(e->element[0]);
  if (std::from_chars(id.data(), id.data() + id.size(), out.id).ec != std::errc() ||
      !cluster::valid_message_id(out.id)) {
    return false;
  }
  const redisReply* f = e->element[1];
  if (!f || f->type != REDIS_REPLY_ARRAY) return false;
  out.room = room;
  for (size_t i = 0; i + 1 < f->elements; i += 2) {
    auto k = reply_text(f->element[i]);
    auto v = reply_text(f->element[i + 1]);
    if (k == "u") out.user_id = v;
    if (k == "n") out.user = v;
    if (k == "b") out.body = v;
    if (k == "t") out.ts = reply_int(f->element[i + 1]);
    if (k == "d") out.delete_target = reply_int(f->element[i + 1]);  // a delete event
  }
  return true;
}

}  // namespace rtchat::server
