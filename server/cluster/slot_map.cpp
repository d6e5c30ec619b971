#include "server/cluster/slot_map.h"

#include <charconv>

namespace rtchat::server::cluster {
namespace {

bool parse_int(std::string_view s, int& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

}  // namespace

uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

int key_slot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) % kSlotCount;
}

bool parse_address(std::string_view text, RedisAddress& out) {
  size_t colon = text.rfind(':');
  out.port = 6379;
  if (colon != std::string_view::npos) {
    if (!parse_int(text.substr(colon + 1), out.port) || out.port <= 0 || out.port > 65535) {
      return false;
    }
    text = text.substr(0, colon);
  }
  out.host = text;
  return !out.host.empty();
}

bool parse_cluster_url(std::string_view url, std::vector<RedisAddress>& seeds) {
  constexpr std::string_view kScheme = "redis-cluster://";
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  seeds.clear();
  while (!url.empty()) {
    size_t comma = url.find(',');
    RedisAddress a;
    if (!parse_address(url.substr(0, comma), a)) return false;
    seeds.push_back(std::move(a));
    url = comma == std::string_view::npos ? std::string_view() : url.substr(comma + 1);
  }
  return !seeds.empty();
}

int SlotMap::index_of(const RedisAddress& a) {
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (masters_[i] == a) return static_cast<int>(i);
  }
  masters_.push_back(a);
  return static_cast<int>(masters_.size() - 1);
}

bool SlotMap::load(const redisReply* reply, std::string_view fallback_host) {
  if (!reply || reply->type != REDIS_REPLY_ARRAY) return false;
  SlotMap next;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (!range || range->type != REDIS_REPLY_ARRAY || range->elements < 3) return false;
    const redisReply* lo = range->element[0];
    const redisReply* hi = range->element[1];
    const redisReply* node = range->element[2];
    if (lo->type != REDIS_REPLY_INTEGER || hi->type != REDIS_REPLY_INTEGER ||
        node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
        node->element[1]->type != REDIS_REPLY_INTEGER || lo->integer < 0 ||
        hi->integer >= kSlotCount || lo->integer > hi->integer) {
      return false;
    }
    RedisAddress a{std::string(text_of(node->element[0])),
                   static_cast<int>(node->element[1]->integer)};
    if (a.host.empty() || a.host == "?") a.host = fallback_host;
    int idx = next.index_of(a);
    for (auto s = lo->integer; s <= hi->integer; ++s) next.owner_[s] = idx;
  }
  *this = std::move(next);
  return true;
}

bool SlotMap::complete() const {
  for (int o : owner_) {
    if (o < 0) return false;
  }
  return !masters_.empty();
}

bool parse_redirect(std::string_view error, Redirect& out) {
  if (error.starts_with("MOVED ")) {
    out.ask = false;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    out.ask = true;
    error.remove_prefix(4);
  } else {
    return false;
  }
  size_t space = error.find(' ');
  if (space == std::string_view::npos || !parse_int(error.substr(0, space), out.slot)) return false;
  return out.slot >= 0 && out.slot < kSlotCount && parse_address(error.substr(space + 1), out.to);
}

}  // namespace rtchat::server::cluster
