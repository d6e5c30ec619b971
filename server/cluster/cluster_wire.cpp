#include "server/cluster/cluster_wire.h"

#include <charconv>

namespace rtchat::server::cluster {

std::string channel_key(std::string_view room) { return std::string(kChannelPrefix) += room; }
std::string log_key(std::string_view room) { return std::string("rtchat:log:") += room; }
std::string seq_key(std::string_view room) { return std::string("rtchat:seq:") += room; }
std::string presence_key(std::string_view room) { return std::string("rtchat:pres:") += room; }
std::string node_key(std::string_view node) { return std::string("rtchat:node:") += node; }

std::string Keys::named(std::string_view prefix, std::string_view room) const {
  std::string out(prefix);
  if (!tagged_) return out += room;
  out.push_back('{');
  out += room;
  out.push_back('}');
  return out;
}

bool Keys::room_of(std::string_view prefix, std::string_view name, std::string& room) const {
  if (!name.starts_with(prefix)) return false;
  name.remove_prefix(prefix.size());
  if (tagged_) {
    if (name.size() < 2 || name.front() != '{' || name.back() != '}') return false;
    name = name.substr(1, name.size() - 2);
  }
  room = name;
  return true;
}

void append_lp(std::string& out, std::string_view s) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, s.size());
  out.append(buf, r.ptr);
  out.push_back(':');
  out.append(s);
}

void append_lp(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  append_lp(out, std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

bool LpReader::next(std::string_view& out) {
  size_t colon = in_.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 10) return false;
  size_t n = 0;
  auto r = std::from_chars(in_.data(), in_.data() + colon, n);
  if (r.ec != std::errc() || r.ptr != in_.data() + colon) return false;
  if (in_.size() - colon - 1 < n) return false;
  out = in_.substr(colon + 1, n);
  in_.remove_prefix(colon + 1 + n);
  return true;
}

bool LpReader::next_int(int64_t& out) {
  std::string_view s;
  if (!next(s) || s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool LpReader::next_char(char& out) {
  if (in_.empty()) return false;
  out = in_.front();
  in_.remove_prefix(1);
  return true;
}

std::string message_tail(const proto::ChatMessage& m) {
  std::string out;
  out.reserve(m.body.size() + m.user.size() + m.user_id.size() + 32);
  append_lp(out, m.ts);
  append_lp(out, m.user_id);
  append_lp(out, m.user);
  append_lp(out, m.body);
  if (m.delete_target != 0) append_lp(out, m.delete_target);  // a delete event (moderation)
  return out;
}

bool parse_message(std::string_view payload, std::string_view room, proto::ChatMessage& out) {
  LpReader r(payload);
  char kind = 0;
  std::string_view uid, name, body;
  if (!r.next_char(kind) || kind != 'm' || !r.next_int(out.id) || !r.next_int(out.ts) ||
      !r.next(uid) || !r.next(name) || !r.next(body)) {
    return false;
  }
  if (!valid_message_id(out.id)) return false;
  out.delete_target = 0;
  if (!r.done() && (!r.next_int(out.delete_target) || !r.done())) return false;
  out.room = room;
  out.user_id = uid;
  out.user = name;
  out.body = body;
  return true;
}

namespace {
void append_record(std::string& out, char sign, const ClusterMeta& m) {
  out.push_back(sign);
  append_lp(out, m.user_id);
  append_lp(out, m.meta.phx_ref());
  append_lp(out, m.meta.online_at());
  append_lp(out, m.meta.name());
  append_lp(out, m.meta.device());
}
}  // namespace

std::string presence_payload(std::string_view node, const std::vector<ClusterMeta>& joins,
                             const std::vector<ClusterMeta>& leaves) {
  std::string out = "p";
  append_lp(out, node);
  for (const auto& m : leaves) append_record(out, '-', m);
  for (const auto& m : joins) append_record(out, '+', m);
  return out;
}

bool parse_presence(std::string_view payload, std::vector<ClusterMeta>& joins,
                    std::vector<ClusterMeta>& leaves, std::string& node) {
  LpReader r(payload);
  char kind = 0;
  std::string_view n;
  if (!r.next_char(kind) || kind != 'p' || !r.next(n)) return false;
  node = n;
  while (!r.done()) {
    char sign = 0;
    ClusterMeta m;
    std::string_view uid, ref, name, device;
    int64_t online_at = 0;
    if (!r.next_char(sign) || (sign != '+' && sign != '-') || !r.next(uid) || !r.next(ref) ||
        !r.next_int(online_at) || !r.next(name) || !r.next(device)) {
      return false;
    }
    m.node = node;
    m.user_id = uid;
    m.meta = proto::PresenceMeta(ref, online_at, name, device);
    (sign == '+' ? joins : leaves).push_back(std::move(m));
  }
  return true;
}

std::string typing_payload(std::string_view node, std::string_view user_id, std::string_view user) {
  std::string out = "t";
  append_lp(out, node);
  append_lp(out, user_id);
  append_lp(out, user);
  return out;
}

bool parse_typing(std::string_view payload, std::string& node, std::string& user_id,
                  std::string& user) {
  LpReader r(payload);
  char kind = 0;
  std::string_view n, u, name;
  if (!r.next_char(kind) || kind != 't' || !r.next(n) || !r.next(u) || !r.next(name) || !r.done()) {
    return false;
  }
  node = n;
  user_id = u;
  user = name;
  return true;
}

std::string read_state_payload(std::string_view node, std::string_view user_id,
                               int64_t last_read_id) {
  std::string out = "r";
  append_lp(out, node);
  append_lp(out, user_id);
  append_lp(out, last_read_id);
  return out;
}

bool parse_read_state(std::string_view payload, std::string& node, std::string& user_id,
                      int64_t& last_read_id) {
  LpReader r(payload);
  char kind = 0;
  std::string_view n, u;
  if (!r.next_char(kind) || kind != 'r' || !r.next(n) || !r.next(u) || !r.next_int(last_read_id) ||
      !r.done() || last_read_id < 0) {
    return false;
  }
  node = n;
  user_id = u;
  return true;
}

std::string disconnect_payload(std::string_view node, std::string_view user_id,
                               std::string_view reason) {
  std::string out = "x";
  append_lp(out, node);
  append_lp(out, user_id);
  append_lp(out, reason);
  return out;
}

bool parse_disconnect(std::string_view payload, std::string& node, std::string& user_id,
                      std::string& reason) {
  LpReader r(payload);
  char kind = 0;
  std::string_view n, u, why;
  if (!r.next_char(kind) || kind != 'x' || !r.next(n) || !r.next(u) || !r.next(why) || !r.done()) {
    return false;
  }
  node = n;
  user_id = u;
  reason = why;
  return true;
}

std::string loss_payload(std::string_view node) {
  std::string out = "l";
  append_lp(out, node);
  return out;
}

bool parse_loss(std::string_view payload, std::string& node) {
  LpReader r(payload);
  char kind = 0;
  std::string_view n;
  if (!r.next_char(kind) || kind != 'l' || !r.next(n) || !r.done()) return false;
  node = n;
  return true;
}

std::string presence_field(std::string_view node, std::string_view phx_ref) {
  std::string f(node);
  f.push_back('|');
  f.append(phx_ref);
  return f;
}

std::string presence_value(const ClusterMeta& m) {
  std::string out;
  append_lp(out, m.user_id);
  append_lp(out, m.meta.online_at());
  append_lp(out, m.meta.name());
  append_lp(out, m.meta.device());
  return out;
}

bool parse_presence_entry(std::string_view field, std::string_view value, ClusterMeta& out) {
  size_t bar = field.find('|');
  if (bar == std::string_view::npos) return false;
  out.node = field.substr(0, bar);
  LpReader r(value);
  std::string_view uid, name, device;
  int64_t online_at = 0;
  if (!r.next(uid) || !r.next_int(online_at) || !r.next(name) || !r.next(device) || !r.done()) {
    return false;
  }
  out.user_id = uid;
  out.meta = proto::PresenceMeta(field.substr(bar + 1), online_at, name, device);
  return true;
}

}  // namespace rtchat::server::cluster
