// Small helpers over hiredis replies shared by the cluster link and the cluster store.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "proto/messages.h"

namespace rtchat::server {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;
struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;

// The text of a string, status or error reply; "" for anything else (or null).
std::string_view reply_text(const redisReply* r);
// An integer reply, or a string reply holding a decimal; 0 otherwise.
int64_t reply_int(const redisReply* r);
// One XRANGE/XREVRANGE entry ["<id>-0", [field, value, ...]] (fields u, n, b, t) -> a chat
// message of `room`. False when the entry is malformed.
bool parse_stream_entry(const redisReply* e, std::string_view room, proto::ChatMessage& out);

}  // namespace rtchat::server
