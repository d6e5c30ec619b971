// Phoenix Channels v2 JSON codec. Decoding uses simdjson's DOM parser through its error-code API
// (no exceptions): the DOM pass validates UTF-8 and the whole document before we read a field,
// so a truncated or malformed frame is rejected as a unit. Encoding appends literal pieces and
// escaped strings straight into the caller's buffer, in the exact key order of the reference
// vectors (shared/reference/phoenix-channels-protocol.md section 8).
#include "proto/phoenix_codec.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "proto/display_text.h"

namespace rtchat::proto::phoenix {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// One parser per thread: it keeps its buffers between frames, so steady-state decoding does not
// allocate. Its memory grows to the largest frame seen; the server caps frame size before this.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// ------------------------------------------------------------------ encoding helpers

// 0: copy as is; 'u': \u00XX; 'L': lead byte of a possible U+2028/U+2029; else the short escape.
constexpr std::array<char, 256> kEscapeTable = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<size_t>(c)] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  t[0xE2] = 'L';
  return t;
}();

// True when any byte of w is < 0x20, '"', '\\' or 0xE2 (exact "any", per SWAR has-less/has-zero).
constexpr bool may_need_escape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  auto has_zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  return (below_space | has_zero_byte(w ^ (kOnes * '"')) | has_zero_byte(w ^ (kOnes * '\\')) |
          has_zero_byte(w ^ (kOnes * 0xE2))) != 0;
}

void append_int(std::string& out, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;  // 24 bytes always hold an int64
  out.append(buf, end);
}

void append_bool(std::string& out, bool value) { out.append(value ? "true" : "false"); }

// `[join_ref,ref,topic,"event",` — the common frame head.
void append_head(std::string& out, const std::optional<std::string>& join_ref,
                 const std::optional<std::string>& ref, std::string_view topic,
                 std::string_view event_literal) {
  out.push_back('[');
  append_optional_string(out, join_ref);
  out.push_back(',');
  append_optional_string(out, ref);
  out.push_back(',');
  append_json_string(out, topic);
  out.push_back(',');
  out.append(event_literal);
  out.push_back(',');
}

// Broadcast head `[null,null,topic,"event",` without touching optionals.
void append_broadcast_head(std::string& out, std::string_view topic,
                           std::string_view event_literal) {
  out.append("[null,null,");
  append_json_string(out, topic);
  out.push_back(',');
  out.append(event_literal);
  out.push_back(',');
}

// True when s has a byte that append_json_string may escape (conservative: 0xE2 counts).
bool has_escapable(std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  for (; end - p >= 8; p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    if (may_need_escape(word)) return true;
  }
  for (; p < end; ++p) {
    if (kEscapeTable[static_cast<unsigned char>(*p)] != 0) return true;
  }
  return false;
}

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// A meta whose strings need no escaping (phx_refs are ours, most names plain), written into a
// stack buffer and appended once: a presence_state is mostly metas, encoded on every join.
bool append_plain_meta(std::string& out, const PresenceMeta& meta, std::string_view phx_ref) {
  char buf[256];
  constexpr size_t kFixed = 80;  // the literals (49 bytes) and online_at (up to 20)
  if (phx_ref.size() + meta.name().size() + meta.device().size() > sizeof(buf) - kFixed) {
    return false;
  }
  if (has_escapable(phx_ref) || has_escapable(meta.name()) || has_escapable(meta.device())) {
    return false;
  }
  char* p = put(buf, "{\"phx_ref\":\"");
  p = put(p, phx_ref);
  p = put(p, "\",\"online_at\":");
  p = std::to_chars(p, p + 20, meta.online_at()).ptr;
  p = put(p, ",\"name\":\"");
  p = put(p, meta.name());
  if (!meta.device().empty()) {
    p = put(p, "\",\"device\":\"");
    p = put(p, meta.device());
  }
  p = put(p, "\"}");
  out.append(buf, static_cast<size_t>(p - buf));
  return true;
}

void append_meta(std::string& out, const PresenceMeta& meta) {
  PhxRefBuffer ref_buf;
  std::string_view phx_ref = meta.phx_ref(ref_buf);
  if (append_plain_meta(out, meta, phx_ref)) return;
  out.append("{\"phx_ref\":");
  append_json_string(out, phx_ref);
  out.append(",\"online_at\":");
  append_int(out, meta.online_at());
  out.append(",\"name\":");
  append_json_string(out, meta.name());
  if (!meta.device().empty()) {
    out.append(",\"device\":");
    append_json_string(out, meta.device());
  }
  out.push_back('}');
}

// "user":{"metas":[...]}
template <typename Metas>
void append_entry(std::string& out, std::string_view key, const Metas& metas) {
  append_json_string(out, key);
  out.append(":{\"metas\":[");
  for (size_t i = 0; i < metas.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_meta(out, metas[i]);
  }
  out.append("]}");
}

// {"user":{"metas":[...]},...}, from owned entries or a borrowed view.
template <typename Entries>
void append_entries(std::string& out, const Entries& entries) {
  out.push_back('{');
  bool first_entry = true;
  for (const auto& entry : entries) {
    if (!first_entry) out.push_back(',');
    first_entry = false;
    append_entry(out, entry_key(entry), entry_metas(entry));
  }
  out.push_back('}');
}

// {} or {"recovered": b}, plus "last_read_id" and "unread" when the read state was loaded.
void append_join_body(std::string& out, const ReplyBody& body) {
  out.push_back('{');
  if (body.recovered) {
    out.append("\"recovered\":");
    append_bool(out, *body.recovered);
  }
  if (body.last_read_id) {
    if (body.recovered) out.push_back(',');
    out.append("\"last_read_id\":");
    append_int(out, *body.last_read_id);
    out.append(",\"unread\":");
    append_int(out, body.unread);
  }
  out.push_back('}');
}

void append_reply_body(std::string& out, const ReplyBody& body) {
  switch (body.kind) {
    case ReplyBody::Kind::Empty:
      out.append("{}");
      return;
    case ReplyBody::Kind::Error:
      out.append("{\"reason\":");
      append_json_string(out, body.reason);
      out.push_back('}');
      return;
    case ReplyBody::Kind::Join:
      append_join_body(out, body);
      return;
    case ReplyBody::Kind::MarkRead:
      out.append("{\"last_read_id\":");
      append_int(out, body.last_read_id.value_or(0));
      out.push_back('}');
      return;
    case ReplyBody::Kind::Refresh:
      out.append("{\"exp\":");
      append_int(out, body.exp);
      out.push_back('}');
      return;
    case ReplyBody::Kind::Publish:
      out.append("{\"id\":");
      append_int(out, body.id);
      out.push_back('}');
      return;
    case ReplyBody::Kind::History:
      encode_history_json(body.messages, body.has_more, out);
      return;
  }
  out.append("{}");
}

std::string_view client_event_name(const ClientMessage& msg) {
  switch (msg.event) {
    case ClientEvent::Heartbeat:
      return "heartbeat";
    case ClientEvent::Join:
      return "phx_join";
    case ClientEvent::Leave:
      return "phx_leave";
    case ClientEvent::NewMsg:
      return "new_msg";
    case ClientEvent::History:
      return "history";
    case ClientEvent::Typing:
      return "typing";
    case ClientEvent::MarkRead:
      return "mark_read";
    case ClientEvent::Refresh:
      return "refresh";
    case ClientEvent::DeleteMsg:
      return "delete_msg";
    case ClientEvent::Other:
      break;
  }
  return msg.event_name;
}

// ------------------------------------------------------------------ decoding helpers

// The device label shown in presence; a longer one is a client bug or abuse.
constexpr size_t kMaxDeviceChars = 32;

// A string-or-null field: false when it is neither.
bool read_optional_string(element el, std::optional<std::string>& out) {
  if (el.is_null()) {
    out.reset();
    return true;
  }
  std::string_view s;
  if (el.get_string().get(s)) return false;
  out.emplace(s);
  return true;
}

// The [join_ref, ref, topic, event, payload] envelope shared by both directions.
struct Envelope {
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string_view topic;  // valid until the next parse on this thread
  std::string_view event;
  object payload;
};

DecodeError parse_envelope(std::string_view text, Envelope& env) {
  element root;
  if (thread_parser().parse(text.data(), text.size()).get(root)) return DecodeError::NotJson;
  array frame;
  if (root.get_array().get(frame)) return DecodeError::NotEnvelope;
  // Extra elements after the fifth are ignored, as Phoenix does.
  std::array<element, 5> fields;
  size_t count = 0;
  for (element el : frame) {
    fields[count++] = el;
    if (count == fields.size()) break;
  }
  if (count < fields.size()) return DecodeError::NotEnvelope;
  if (!read_optional_string(fields[0], env.join_ref)) return DecodeError::NotEnvelope;
  if (!read_optional_string(fields[1], env.ref)) return DecodeError::NotEnvelope;
  if ((env.join_ref && env.join_ref->size() > kMaxRefBytes) ||
      (env.ref && env.ref->size() > kMaxRefBytes)) {
    return DecodeError::NotEnvelope;
  }
  if (fields[2].get_string().get(env.topic)) return DecodeError::NotEnvelope;
  if (fields[3].get_string().get(env.event)) return DecodeError::NotEnvelope;
  if (fields[4].get_object().get(env.payload)) return DecodeError::PayloadNotObject;
  return DecodeError::None;
}

// Outcome of reading one optional payload field.
enum class Field : uint8_t { Absent, Null, Ok, WrongType };

Field find(object obj, std::string_view key, element& out) {
  if (obj.at_key(key).get(out)) return Field::Absent;
  return out.is_null() ? Field::Null : Field::Ok;
}

// An integer field that fits int64 (floats, strings and out-of-range values are WrongType).
Field read_int(object obj, std::string_view key, int64_t& out) {
  element el;
  Field f = find(obj, key, el);
  if (f != Field::Ok) return f;
  return el.get_int64().get(out) ? Field::WrongType : Field::Ok;
}

Field read_string(object obj, std::string_view key, std::string_view& out) {
  element el;
  Field f = find(obj, key, el);
  if (f != Field::Ok) return f;
  return el.get_string().get(out) ? Field::WrongType : Field::Ok;
}

// An optional non-negative integer where null means absent (last_seen_id, before_id): a wrong
// type or a negative value makes the payload invalid.
void read_optional_count(object payload, std::string_view key, std::optional<int64_t>& target,
                         ClientMessage& out) {
  int64_t v = 0;
  switch (read_int(payload, key, v)) {
    case Field::Ok:
      if (v < 0) {
        out.payload_valid = false;
      } else {
        target = v;
      }
      break;
    case Field::WrongType:
      out.payload_valid = false;
      break;
    case Field::Absent:
    case Field::Null:
      break;
  }
}

void decode_join_payload(object payload, ClientMessage& out) {
  read_optional_count(payload, "last_seen_id", out.last_seen_id, out);
  std::string_view device;
  switch (read_string(payload, "device", device)) {
    case Field::Ok:
      if (utf8_length(device) > kMaxDeviceChars)
        out.payload_valid = false;
      else
        out.device.emplace(device);
      break;
    case Field::WrongType:
      out.payload_valid = false;
      break;
    case Field::Absent:
    case Field::Null:  // treated like absent, as for last_seen_id
      break;
  }
}

void decode_history_payload(object payload, ClientMessage& out) {
  read_optional_count(payload, "before_id", out.before_id, out);
  int64_t limit = 0;
  switch (read_int(payload, "limit", limit)) {
    case Field::Ok:
      if (limit < 0)
        out.payload_valid = false;
      else
        out.limit = limit;
      break;
    case Field::Absent:
      break;  // keeps the default of 50
    case Field::Null:
    case Field::WrongType:
      out.payload_valid = false;
      break;
  }
}

// ---- server frames (client side): lenient about missing fields, strict about wrong types.

bool read_chat_message(object obj, ChatMessage& msg) {
  std::string_view s;
  if (read_int(obj, "id", msg.id) == Field::WrongType) return false;
  if (read_int(obj, "ts", msg.ts) == Field::WrongType) return false;
  if (auto deleted = obj["deleted"]; deleted.error() == simdjson::SUCCESS) {
    if (deleted.get_bool().get(msg.deleted)) return false;
  }
  struct StringField {
    std::string_view key;
    std::string* target;
  };
  for (const StringField& f : {StringField{"room", &msg.room}, StringField{"user_id", &msg.user_id},
                               StringField{"user", &msg.user}, StringField{"body", &msg.body}}) {
    switch (read_string(obj, f.key, s)) {
      case Field::Ok:
        f.target->assign(s);
        break;
      case Field::WrongType:
        return false;
      case Field::Absent:
      case Field::Null:
        break;
    }
  }
  return true;
}

bool read_entries(object obj, PresenceEntries& entries) {
  for (auto [key, value] : obj) {
    object entry;
    array metas;
    if (value.get_object().get(entry)) return false;
    if (entry["metas"].get_array().get(metas)) return false;
    auto& [user, out_metas] = entries.emplace_back(std::string(key), std::vector<PresenceMeta>{});
    (void)user;
    for (element m : metas) {
      object meta_obj;
      if (m.get_object().get(meta_obj)) return false;
      std::string_view phx_ref, name, device;
      int64_t online_at = 0;
      (void)read_string(meta_obj, "phx_ref", phx_ref);
      if (read_int(meta_obj, "online_at", online_at) == Field::WrongType) return false;
      (void)read_string(meta_obj, "name", name);
      (void)read_string(meta_obj, "device", device);
      out_metas.emplace_back(phx_ref, online_at, name, device);
    }
  }
  return true;
}

bool read_reply(object payload, Reply& reply) {
  std::string_view status;
  if (read_string(payload, "status", status) != Field::Ok) return false;
  reply.status = status == "ok" ? ReplyStatus::Ok : ReplyStatus::Error;
  object response;
  if (payload["response"].get_object().get(response)) return false;
  ReplyBody& body = reply.body;
  element el;
  std::string_view reason;
  if (!response.at_key("reason").get(el)) {
    body.kind = ReplyBody::Kind::Error;
    if (el.get_string().get(reason)) return false;
    body.reason.assign(reason);
  } else if (!response.at_key("id").get(el)) {
    body.kind = ReplyBody::Kind::Publish;
    if (el.get_int64().get(body.id)) return false;
  } else if (!response.at_key("messages").get(el)) {
    body.kind = ReplyBody::Kind::History;
    array messages;
    if (el.get_array().get(messages)) return false;
    for (element m : messages) {
      object obj;
      if (m.get_object().get(obj) || !read_chat_message(obj, body.messages.emplace_back())) {
        return false;
      }
    }
    if (!response.at_key("has_more").get(el) && el.get_bool().get(body.has_more)) return false;
  } else if (!response.at_key("unread").get(el)) {
    body.kind = ReplyBody::Kind::Join;
    int64_t last_read_id = 0;
    if (el.get_int64().get(body.unread)) return false;
    if (read_int(response, "last_read_id", last_read_id) != Field::Ok) return false;
    body.last_read_id = last_read_id;
    if (!response.at_key("recovered").get(el)) {
      bool recovered = false;
      if (el.get_bool().get(recovered)) return false;
      body.recovered = recovered;
    }
  } else if (!response.at_key("recovered").get(el)) {
    body.kind = ReplyBody::Kind::Join;
    bool recovered = false;
    if (el.get_bool().get(recovered)) return false;
    body.recovered = recovered;
  } else if (!response.at_key("last_read_id").get(el)) {
    body.kind = ReplyBody::Kind::MarkRead;
    int64_t last_read_id = 0;
    if (el.get_int64().get(last_read_id)) return false;
    body.last_read_id = last_read_id;
  } else if (!response.at_key("exp").get(el)) {
    body.kind = ReplyBody::Kind::Refresh;
    if (el.get_int64().get(body.exp)) return false;
  } else {
    body.kind = ReplyBody::Kind::Empty;
  }
  return true;
}

}  // namespace

// ------------------------------------------------------------------ JSON text helpers

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;  // start of the bytes not yet copied
  while (p < end) {
    // Plain text dominates chat bodies: skip 8 bytes at a time while none may need escaping.
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if (!may_need_escape(word)) {
        p += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(*p);
    const char escape = kEscapeTable[c];
    if (escape == 0) {
      ++p;
      continue;
    }
    if (escape == 'L') {
      // U+2028/U+2029 (E2 80 A8/A9) are valid JSON but end a line in pre-ES2019 JavaScript.
      if (end - p >= 3 && static_cast<unsigned char>(p[1]) == 0x80 &&
          (static_cast<unsigned char>(p[2]) & 0xFE) == 0xA8) {
        out.append(run, p);
        out.append(static_cast<unsigned char>(p[2]) == 0xA8 ? "\\u2028" : "\\u2029");
        p += 3;
        run = p;
      } else {
        ++p;
      }
      continue;
    }
    out.append(run, p);
    if (escape == 'u') {
      static constexpr char kHex[] = "0123456789abcdef";
      const char seq[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(seq, sizeof(seq));
    } else {
      const char seq[2] = {'\\', escape};
      out.append(seq, sizeof(seq));
    }
    ++p;
    run = p;
  }
  out.append(run, end);
  out.push_back('"');
}

void append_optional_string(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_json_string(out, *s);
  } else {
    out.append("null");
  }
}

// ------------------------------------------------------------------ server side

DecodeError decode_client(std::string_view text, ClientMessage& out) {
  // Reset field by field rather than assigning a fresh ClientMessage: callers reuse one message
  // per connection, and keeping the strings' capacity makes steady-state decoding allocation-free.
  out.join_ref.reset();
  out.ref.reset();
  out.topic.clear();
  out.event = ClientEvent::Other;
  out.event_name.clear();
  out.payload_valid = true;
  out.last_seen_id.reset();
  out.device.reset();
  out.body.clear();
  out.before_id.reset();
  out.limit = ClientMessage{}.limit;
  out.read_id.reset();
  out.token.clear();
  out.message_id = 0;
  Envelope env;
  if (DecodeError err = parse_envelope(text, env); err != DecodeError::None) return err;
  out.join_ref = std::move(env.join_ref);
  out.ref = std::move(env.ref);
  out.topic.assign(env.topic);
  out.event_name.assign(env.event);

  const std::string_view event = env.event;
  if (event == "new_msg") {
    out.event = ClientEvent::NewMsg;
    std::string_view body;
    if (read_string(env.payload, "body", body) == Field::Ok) {
      out.body.assign(body);
    } else {
      out.payload_valid = false;
    }
  } else if (event == "heartbeat") {
    out.event = ClientEvent::Heartbeat;
  } else if (event == "typing") {
    out.event = ClientEvent::Typing;
  } else if (event == "phx_join") {
    out.event = ClientEvent::Join;
    decode_join_payload(env.payload, out);
  } else if (event == "phx_leave") {
    out.event = ClientEvent::Leave;
  } else if (event == "history") {
    out.event = ClientEvent::History;
    decode_history_payload(env.payload, out);
  } else if (event == "mark_read") {
    out.event = ClientEvent::MarkRead;
    int64_t id = 0;
    if (read_int(env.payload, "id", id) == Field::Ok && id >= 0) {
      out.read_id = id;
    } else {
      out.payload_valid = false;
    }
  } else if (event == "refresh") {
    out.event = ClientEvent::Refresh;
    std::string_view token;
    if (read_string(env.payload, "token", token) == Field::Ok) {
      out.token.assign(token);
    } else {
      out.payload_valid = false;
    }
  } else if (event == "delete_msg") {
    out.event = ClientEvent::DeleteMsg;
    out.payload_valid = read_int(env.payload, "id", out.message_id) == Field::Ok;
  } else {
    out.event = ClientEvent::Other;
  }
  return DecodeError::None;
}

void encode_reply(const Reply& reply, std::string& out) {
  append_head(out, reply.join_ref, reply.ref, reply.topic, "\"phx_reply\"");
  out.append(reply.status == ReplyStatus::Ok ? "{\"status\":\"ok\",\"response\":"
                                             : "{\"status\":\"error\",\"response\":");
  append_reply_body(out, reply.body);
  out.append("}]");
}

void encode_message_object(const ChatMessage& msg, std::string& out) {
  out.append("{\"id\":");
  append_int(out, msg.id);
  out.append(",\"room\":");
  append_json_string(out, msg.room);
  out.append(",\"user_id\":");
  append_json_string(out, msg.user_id);
  out.append(",\"user\":");
  append_json_string(out, msg.user);
  out.append(",\"body\":");
  append_json_string(out, msg.body);
  out.append(",\"ts\":");
  append_int(out, msg.ts);
  if (msg.deleted) out.append(",\"deleted\":true");
  out.push_back('}');
}

void encode_presence_object(const PresenceEntries& entries, std::string& out) {
  append_entries(out, entries);
}

void encode_msg_deleted(std::string_view topic, const ChatMessage& delete_event, std::string& out) {
  append_broadcast_head(out, topic, "\"msg_deleted\"");
  out.append("{\"id\":");
  append_int(out, delete_event.delete_target);
  out.append(",\"event_id\":");
  append_int(out, delete_event.id);
  out.append(",\"deleted_by\":");
  append_json_string(out, delete_event.user_id);
  out.append("}]");
}

void encode_new_msg(std::string_view topic, const ChatMessage& msg, std::string& out) {
  // Fixed overhead is under 100 bytes; one reservation covers the common unescaped case.
  out.reserve(out.size() + 100 + topic.size() + msg.room.size() + msg.user_id.size() +
              msg.user.size() + msg.body.size());
  append_broadcast_head(out, topic, "\"new_msg\"");
  encode_message_object(msg, out);
  out.push_back(']');
}

void encode_presence_state(const std::optional<std::string>& join_ref, std::string_view topic,
                           const PresenceStateView& state, std::string& out) {
  append_head(out, join_ref, std::nullopt, topic, "\"presence_state\"");
  append_entries(out, state);
  out.push_back(']');
}

void append_presence_entry(std::string& out, std::string_view key, const PresenceMeta& meta) {
  struct One {
    const PresenceMeta& meta;
    [[nodiscard]] size_t size() const { return 1; }
    const PresenceMeta& operator[](size_t) const { return meta; }
  };
  append_entry(out, key, One{meta});
}

void encode_presence_diff(std::string_view topic, const PresenceDiff& diff, std::string& out) {
  append_broadcast_head(out, topic, "\"presence_diff\"");
  out.append("{\"joins\":");
  append_entries(out, diff.joins);
  out.append(",\"leaves\":");
  append_entries(out, diff.leaves);
  out.append("}]");
}

void encode_close(const std::optional<std::string>& join_ref, std::string_view topic,
                  std::string& out) {
  append_head(out, join_ref, join_ref, topic, "\"phx_close\"");
  out.append("{}]");
}

void encode_channel_error(const std::optional<std::string>& join_ref, std::string_view topic,
                          std::string_view reason, std::string& out) {
  append_head(out, join_ref, join_ref, topic, "\"phx_error\"");
  out.append("{\"reason\":");
  append_json_string(out, reason);
  out.append("}]");
}

void encode_typing(std::string_view topic, std::string_view user_id, std::string_view user,
                   std::string& out) {
  append_broadcast_head(out, topic, "\"typing\"");
  out.append("{\"user_id\":");
  append_json_string(out, user_id);
  out.append(",\"user\":");
  append_json_string(out, user);
  out.append("}]");
}

void encode_history_json(const std::vector<ChatMessage>& messages, bool has_more,
                         std::string& out) {
  out.append("{\"messages\":[");
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i != 0) out.push_back(',');
    encode_message_object(messages[i], out);
  }
  out.append("],\"has_more\":");
  append_bool(out, has_more);
  out.push_back('}');
}

void encode_read_state(std::string_view topic, int64_t last_read_id, std::string& out) {
  append_broadcast_head(out, topic, "\"read_state\"");
  out.append("{\"last_read_id\":");
  append_int(out, last_read_id);
  out.append("}]");
}

void encode_token_expiring(int64_t exp, std::string& out) {
  append_broadcast_head(out, "phoenix", "\"token_expiring\"");
  out.append("{\"exp\":");
  append_int(out, exp);
  out.append("}]");
}

// ------------------------------------------------------------------ client side

void encode_client(const ClientMessage& msg, std::string& out) {
  const std::string_view topic = msg.event == ClientEvent::Heartbeat ? std::string_view("phoenix")
                                                                     : std::string_view(msg.topic);
  out.push_back('[');
  append_optional_string(out, msg.join_ref);
  out.push_back(',');
  append_optional_string(out, msg.ref);
  out.push_back(',');
  append_json_string(out, topic);
  out.push_back(',');
  append_json_string(out, client_event_name(msg));
  out.push_back(',');
  switch (msg.event) {
    case ClientEvent::Join: {
      out.push_back('{');
      bool first = true;
      if (msg.last_seen_id) {
        out.append("\"last_seen_id\":");
        append_int(out, *msg.last_seen_id);
        first = false;
      }
      if (msg.device) {
        if (!first) out.push_back(',');
        out.append("\"device\":");
        append_json_string(out, *msg.device);
      }
      out.push_back('}');
      break;
    }
    case ClientEvent::NewMsg:
      out.append("{\"body\":");
      append_json_string(out, msg.body);
      out.push_back('}');
      break;
    case ClientEvent::History:
      out.append("{\"before_id\":");
      if (msg.before_id) {
        append_int(out, *msg.before_id);
      } else {
        out.append("null");
      }
      out.append(",\"limit\":");
      append_int(out, msg.limit);
      out.push_back('}');
      break;
    case ClientEvent::MarkRead:
      out.append("{\"id\":");
      append_int(out, msg.read_id.value_or(0));
      out.push_back('}');
      break;
    case ClientEvent::Refresh:
      out.append("{\"token\":");
      append_json_string(out, msg.token);
      out.push_back('}');
      break;
    case ClientEvent::DeleteMsg:
      out.append("{\"id\":");
      append_int(out, msg.message_id);
      out.push_back('}');
      break;
    case ClientEvent::Heartbeat:
    case ClientEvent::Leave:
    case ClientEvent::Typing:
    case ClientEvent::Other:
      out.append("{}");
      break;
  }
  out.push_back(']');
}

DecodeError decode_server(std::string_view text, ServerMessage& out) {
  out = ServerMessage{};
  Envelope env;
  if (DecodeError err = parse_envelope(text, env); err != DecodeError::None) return err;
  out.join_ref = std::move(env.join_ref);
  out.ref = std::move(env.ref);
  out.topic.assign(env.topic);
  out.event_name.assign(env.event);

  const std::string_view event = env.event;
  bool ok = true;
  if (event == "phx_reply") {
    out.event = ServerEvent::Reply;
    out.reply.join_ref = out.join_ref;
    out.reply.ref = out.ref;
    out.reply.topic = out.topic;
    ok = read_reply(env.payload, out.reply);
  } else if (event == "new_msg") {
    out.event = ServerEvent::NewMsg;
    ok = read_chat_message(env.payload, out.message);
  } else if (event == "presence_state") {
    out.event = ServerEvent::PresenceState;
    ok = read_entries(env.payload, out.state);
  } else if (event == "presence_diff") {
    out.event = ServerEvent::PresenceDiff;
    object joins;
    object leaves;
    // The JS client throws without both keys, so a frame lacking one is not a valid diff.
    ok = !env.payload["joins"].get_object().get(joins) &&
         !env.payload["leaves"].get_object().get(leaves) && read_entries(joins, out.diff.joins) &&
         read_entries(leaves, out.diff.leaves);
  } else if (event == "phx_close") {
    out.event = ServerEvent::Close;
  } else if (event == "phx_error") {
    // ServerMessage has no field of its own for the reason; it travels as an error reply body.
    out.event = ServerEvent::Error;
    std::string_view reason;
    if (read_string(env.payload, "reason", reason) == Field::Ok) {
      out.reply.body.kind = ReplyBody::Kind::Error;
      out.reply.body.reason.assign(reason);
    }
  } else if (event == "typing") {
    out.event = ServerEvent::Typing;
    std::string_view s;
    if (read_string(env.payload, "user_id", s) == Field::Ok) out.user_id.assign(s);
    if (read_string(env.payload, "user", s) == Field::Ok) out.user.assign(s);
  } else if (event == "read_state") {
    out.event = ServerEvent::ReadState;
    ok = read_int(env.payload, "last_read_id", out.last_read_id) == Field::Ok;
  } else if (event == "token_expiring") {
    out.event = ServerEvent::TokenExpiring;
    ok = read_int(env.payload, "exp", out.exp) == Field::Ok;
  } else if (event == "msg_deleted") {
    out.event = ServerEvent::MsgDeleted;
    std::string_view s;
    ok = read_int(env.payload, "id", out.message.id) != Field::WrongType &&
         read_int(env.payload, "event_id", out.deleted_event_id) != Field::WrongType;
    if (read_string(env.payload, "deleted_by", s) == Field::Ok) out.user_id.assign(s);
  } else {
    out.event = ServerEvent::Other;
  }
  return ok ? DecodeError::None : DecodeError::NotEnvelope;
}

}  // namespace rtchat::proto::phoenix
