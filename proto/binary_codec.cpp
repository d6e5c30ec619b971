// rtchat.v1 FlatBuffers codec. Every inbound buffer goes through the generated Verifier before a
// single field is read, and every string is then checked for valid UTF-8 (the Verifier only checks
// bounds and the terminator), so a decoded message is as trustworthy as one from the JSON codec.
// Encoders build in one FlatBufferBuilder per thread and append the finished bytes to `out`.
#include "proto/binary_codec.h"

#include <flatbuffers/flatbuffers.h>
#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "proto/display_text.h"
#include "proto/rtchat_generated.h"

namespace rtchat::proto::binary {
namespace {

namespace fb = ::rtchat::v1;

// The deepest legal nesting is Frame > PresenceDiff > [PresenceEntry] > [PresenceMeta] (about 6
// levels counting vectors); 16 leaves room for additions and stops pathological nesting early.
constexpr flatbuffers::uoffset_t kMaxDepth = 16;
// A client frame is one Frame and one body table; anything near 64 is an attack.
constexpr flatbuffers::uoffset_t kMaxClientTables = 64;
// A server frame may be a presence_state of a large room (two tables per user) or a history page.
constexpr flatbuffers::uoffset_t kMaxServerTables = 1u << 20;

// The device label shown in presence; a longer one is a client bug or abuse (as in the JSON codec).
constexpr size_t kMaxDeviceChars = 32;

flatbuffers::FlatBufferBuilder& thread_builder() {
  // 1 KiB covers a chat message; the builder keeps its largest buffer between uses.
  thread_local flatbuffers::FlatBufferBuilder builder(1024);
  builder.Clear();
  return builder;
}

void append_finished(flatbuffers::FlatBufferBuilder& builder, std::string& out) {
  out.append(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

// FlatBuffers reads scalars through plain pointer casts, so the buffer must start on an 8-byte
// boundary (the Verifier checks alignment relative to the start). Payloads sliced out of a receive
// buffer may not be; those are copied once into a per-thread aligned scratch buffer.
const uint8_t* aligned_bytes(std::string_view bytes) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) == 0) {
    return reinterpret_cast<const uint8_t*>(bytes.data());
  }
  thread_local std::vector<uint64_t> scratch;
  scratch.resize(bytes.size() / sizeof(uint64_t) + 1);
  std::memcpy(scratch.data(), bytes.data(), bytes.size());
  return reinterpret_cast<const uint8_t*>(scratch.data());
}

// Verifies the buffer and returns its Frame, or nullptr. Checks the "RTC1" identifier too.
const fb::Frame* verified_frame(std::string_view bytes, flatbuffers::uoffset_t max_tables) {
  // An empty or tiny buffer cannot hold a root offset plus identifier.
  if (bytes.size() < sizeof(flatbuffers::uoffset_t) + flatbuffers::kFileIdentifierLength) {
    return nullptr;
  }
  const uint8_t* data = aligned_bytes(bytes);
  flatbuffers::Verifier verifier(data, bytes.size(), kMaxDepth, max_tables);
  if (!fb::VerifyFrameBuffer(verifier)) return nullptr;
  return fb::GetFrame(data);
}

// UTF-8 checks: JSON text from simdjson is always valid UTF-8, and strings from binary clients are
// re-encoded into JSON for browser clients, so both formats must hold the same guarantee.
bool valid(const flatbuffers::String* s) {
  return s == nullptr || simdjson::validate_utf8(s->c_str(), s->size());
}

std::string_view view(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view{} : std::string_view(s->c_str(), s->size());
}

void assign(std::string& out, const flatbuffers::String* s) {
  if (s != nullptr) out.assign(s->c_str(), s->size());
}

void assign_optional(std::optional<std::string>& out, const flatbuffers::String* s) {
  if (s == nullptr) {
    out.reset();
  } else {
    out.emplace(s->c_str(), s->size());
  }
}

flatbuffers::Offset<flatbuffers::String> create_optional(flatbuffers::FlatBufferBuilder& b,
                                                         const std::optional<std::string>& s) {
  return s ? b.CreateString(*s) : flatbuffers::Offset<flatbuffers::String>();
}

// The event name each body stands for, as the JSON form spells it.
std::string_view event_name(fb::Body type) {
  switch (type) {
    case fb::Body::Heartbeat:
      return "heartbeat";
    case fb::Body::Join:
      return "phx_join";
    case fb::Body::Leave:
      return "phx_leave";
    case fb::Body::NewMsgPush:
    case fb::Body::ChatMessage:
      return "new_msg";
    case fb::Body::HistoryRequest:
      return "history";
    case fb::Body::Typing:
    case fb::Body::TypingBroadcast:
      return "typing";
    case fb::Body::Reply:
      return "phx_reply";
    case fb::Body::PresenceState:
      return "presence_state";
    case fb::Body::PresenceDiff:
      return "presence_diff";
    case fb::Body::ChannelClose:
      return "phx_close";
    case fb::Body::ChannelError:
      return "phx_error";
    case fb::Body::MarkReadPush:
      return "mark_read";
    case fb::Body::RefreshPush:
      return "refresh";
    case fb::Body::ReadState:
      return "read_state";
    case fb::Body::TokenExpiring:
      return "token_expiring";
    case fb::Body::DeleteMsgPush:
      return "delete_msg";
    case fb::Body::MsgDeleted:
      return "msg_deleted";
    case fb::Body::GenericPush:
    case fb::Body::NONE:
      break;
  }
  return {};
}

// ------------------------------------------------------------------ encoding helpers

flatbuffers::Offset<fb::ChatMessage> create_chat_message(flatbuffers::FlatBufferBuilder& b,
                                                         const ChatMessage& msg) {
  auto room = b.CreateString(msg.room);
  auto user_id = b.CreateString(msg.user_id);
  auto user = b.CreateString(msg.user);
  auto body = b.CreateString(msg.body);
  return fb::CreateChatMessage(b, msg.id, room, user_id, user, body, msg.ts, msg.deleted);
}

// From owned entries or a borrowed view.
template <typename Entries>
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::PresenceEntry>>> create_entries(
    flatbuffers::FlatBufferBuilder& b, const Entries& entries) {
  std::vector<flatbuffers::Offset<fb::PresenceEntry>> offsets;
  offsets.reserve(entries.size());
  std::vector<flatbuffers::Offset<fb::PresenceMeta>> metas;
  for (const auto& entry : entries) {
    std::string_view key = entry_key(entry);
    const auto& user_metas = entry_metas(entry);
    metas.clear();
    for (size_t i = 0; i < user_metas.size(); ++i) {
      const PresenceMeta& m = user_metas[i];
      PhxRefBuffer ref_buf;
      std::string_view ref = m.phx_ref(ref_buf);
      auto phx_ref = b.CreateString(ref.data(), ref.size());
      auto name = b.CreateString(m.name().data(), m.name().size());
      auto device = m.device().empty() ? flatbuffers::Offset<flatbuffers::String>()
                                       : b.CreateString(m.device().data(), m.device().size());
      metas.push_back(fb::CreatePresenceMeta(b, phx_ref, m.online_at(), name, device));
    }
    auto key_offset = b.CreateString(key.data(), key.size());
    auto metas_offset = b.CreateVector(metas);
    offsets.push_back(fb::CreatePresenceEntry(b, key_offset, metas_offset));
  }
  return b.CreateVector(offsets);
}

// Finishes a Frame around an already-built body and appends it.
void finish_frame(flatbuffers::FlatBufferBuilder& b, const std::optional<std::string>& join_ref,
                  const std::optional<std::string>& ref, std::string_view topic, fb::Body type,
                  flatbuffers::Offset<void> body, std::string& out) {
  auto join_ref_offset = create_optional(b, join_ref);
  auto ref_offset = create_optional(b, ref);
  auto topic_offset = b.CreateString(topic.data(), topic.size());
  fb::FinishFrameBuffer(b,
                        fb::CreateFrame(b, join_ref_offset, ref_offset, topic_offset, type, body));
  append_finished(b, out);
}

// ------------------------------------------------------------------ decoding helpers

bool valid_entries(const flatbuffers::Vector<flatbuffers::Offset<fb::PresenceEntry>>* entries) {
  if (entries == nullptr) return true;
  for (const fb::PresenceEntry* e : *entries) {
    if (!valid(e->key())) return false;
    if (e->metas() == nullptr) continue;
    for (const fb::PresenceMeta* m : *e->metas()) {
      if (!valid(m->phx_ref()) || !valid(m->name()) || !valid(m->device())) return false;
    }
  }
  return true;
}

void read_entries(const flatbuffers::Vector<flatbuffers::Offset<fb::PresenceEntry>>* entries,
                  PresenceEntries& out) {
  if (entries == nullptr) return;
  out.reserve(entries->size());
  for (const fb::PresenceEntry* e : *entries) {
    auto& [key, metas] = out.emplace_back(std::string(view(e->key())), std::vector<PresenceMeta>{});
    (void)key;
    if (e->metas() == nullptr) continue;
    metas.reserve(e->metas()->size());
    for (const fb::PresenceMeta* m : *e->metas()) {
      metas.emplace_back(view(m->phx_ref()), m->online_at(), view(m->name()), view(m->device()));
    }
  }
}

bool valid_chat_message(const fb::ChatMessage* m) {
  return valid(m->room()) && valid(m->user_id()) && valid(m->user()) && valid(m->body());
}

void read_chat_message(const fb::ChatMessage* m, ChatMessage& out) {
  out.id = m->id();
  assign(out.room, m->room());
  assign(out.user_id, m->user_id());
  assign(out.user, m->user());
  assign(out.body, m->body());
  out.ts = m->ts();
  out.deleted = m->deleted();
}

// Checks every string of the body is UTF-8 (the Verifier has already checked the bounds).
bool valid_body(const fb::Frame* frame) {
  switch (frame->body_type()) {
    case fb::Body::Join:
      return valid(frame->body_as_Join()->device());
    case fb::Body::NewMsgPush:
      return valid(frame->body_as_NewMsgPush()->body());
    case fb::Body::GenericPush: {
      const fb::GenericPush* g = frame->body_as_GenericPush();
      return valid(g->event()) && valid(g->json_payload());
    }
    case fb::Body::Reply: {
      const fb::Reply* r = frame->body_as_Reply();
      if (!valid(r->reason())) return false;
      if (r->messages() != nullptr) {
        for (const fb::ChatMessage* m : *r->messages()) {
          if (!valid_chat_message(m)) return false;
        }
      }
      return true;
    }
    case fb::Body::ChatMessage:
      return valid_chat_message(frame->body_as_ChatMessage());
    case fb::Body::PresenceState:
      return valid_entries(frame->body_as_PresenceState()->entries());
    case fb::Body::PresenceDiff: {
      const fb::PresenceDiff* d = frame->body_as_PresenceDiff();
      return valid_entries(d->joins()) && valid_entries(d->leaves());
    }
    case fb::Body::ChannelError:
      return valid(frame->body_as_ChannelError()->reason());
    case fb::Body::TypingBroadcast: {
      const fb::TypingBroadcast* t = frame->body_as_TypingBroadcast();
      return valid(t->user_id()) && valid(t->user());
    }
    case fb::Body::RefreshPush:
      return valid(frame->body_as_RefreshPush()->token());
    case fb::Body::MsgDeleted:
      return valid(frame->body_as_MsgDeleted()->deleted_by());
    case fb::Body::Heartbeat:
    case fb::Body::Leave:
    case fb::Body::HistoryRequest:
    case fb::Body::Typing:
    case fb::Body::ChannelClose:
    case fb::Body::MarkReadPush:
    case fb::Body::ReadState:
    case fb::Body::TokenExpiring:
    case fb::Body::DeleteMsgPush:
      return true;
    case fb::Body::NONE:
      break;
  }
  // No body, or a union member from a newer schema: there is no event to act on.
  return false;
}

// Frame-level checks shared by both directions: verified, UTF-8 everywhere, a known body.
const fb::Frame* checked_frame(std::string_view bytes, flatbuffers::uoffset_t max_tables) {
  const fb::Frame* frame = verified_frame(bytes, max_tables);
  if (frame == nullptr) return nullptr;
  if (!valid(frame->join_ref()) || !valid(frame->ref()) || !valid(frame->topic())) return nullptr;
  // The Verifier accepts a union whose type is set but whose table is absent; we do not.
  if (frame->body() == nullptr || !valid_body(frame)) return nullptr;
  return frame;
}

}  // namespace

// ------------------------------------------------------------------ server side

DecodeError decode_client(std::string_view bytes, ClientMessage& out) {
  out = ClientMessage{};
  const fb::Frame* frame = checked_frame(bytes, kMaxClientTables);
  if (frame == nullptr) return DecodeError::BadBuffer;
  if ((frame->join_ref() != nullptr && frame->join_ref()->size() > kMaxRefBytes) ||
      (frame->ref() != nullptr && frame->ref()->size() > kMaxRefBytes)) {
    return DecodeError::BadBuffer;
  }
  assign_optional(out.join_ref, frame->join_ref());
  assign_optional(out.ref, frame->ref());
  assign(out.topic, frame->topic());
  out.event_name.assign(event_name(frame->body_type()));

  switch (frame->body_type()) {
    case fb::Body::Heartbeat:
      out.event = ClientEvent::Heartbeat;
      break;
    case fb::Body::Join: {
      out.event = ClientEvent::Join;
      const fb::Join* join = frame->body_as_Join();
      if (join->has_last_seen_id()) {
        if (join->last_seen_id() < 0) {
          out.payload_valid = false;
        } else {
          out.last_seen_id = join->last_seen_id();
        }
      }
      if (const flatbuffers::String* device = join->device(); device != nullptr) {
        if (utf8_length(view(device)) > kMaxDeviceChars) {
          out.payload_valid = false;
        } else {
          out.device.emplace(view(device));
        }
      }
      break;
    }
    case fb::Body::Leave:
      out.event = ClientEvent::Leave;
      break;
    case fb::Body::NewMsgPush: {
      out.event = ClientEvent::NewMsg;
      const flatbuffers::String* body = frame->body_as_NewMsgPush()->body();
      if (body == nullptr) {
        out.payload_valid = false;
      } else {
        assign(out.body, body);
      }
      break;
    }
    case fb::Body::HistoryRequest: {
      out.event = ClientEvent::History;
      const fb::HistoryRequest* h = frame->body_as_HistoryRequest();
      if (h->has_before_id()) {
        if (h->before_id() < 0) {
          out.payload_valid = false;
        } else {
          out.before_id = h->before_id();
        }
      }
      if (h->limit() < 0) {
        out.payload_valid = false;
      } else {
        out.limit = h->limit();
      }
      break;
    }
    case fb::Body::Typing:
      out.event = ClientEvent::Typing;
      break;
    case fb::Body::MarkReadPush:
      out.event = ClientEvent::MarkRead;
      if (int64_t id = frame->body_as_MarkReadPush()->id(); id >= 0) {
        out.read_id = id;
      } else {
        out.payload_valid = false;
      }
      break;
    case fb::Body::RefreshPush: {
      out.event = ClientEvent::Refresh;
      const flatbuffers::String* token = frame->body_as_RefreshPush()->token();
      if (token == nullptr) {
        out.payload_valid = false;
      } else {
        assign(out.token, token);
      }
      break;
    }
    case fb::Body::DeleteMsgPush:
      out.event = ClientEvent::DeleteMsg;
      out.message_id = frame->body_as_DeleteMsgPush()->id();
      break;
    case fb::Body::GenericPush:
      // Known events only travel as their typed tables; a GenericPush naming one is still Other,
      // so the server answers it like any unknown event.
      out.event = ClientEvent::Other;
      assign(out.event_name, frame->body_as_GenericPush()->event());
      break;
    default:
      // A server-only body from a client: like a JSON client sending "phx_reply".
      out.event = ClientEvent::Other;
      break;
  }
  return DecodeError::None;
}

void encode_reply(const Reply& reply, std::string& out) {
  auto& b = thread_builder();
  const ReplyBody& body = reply.body;
  flatbuffers::Offset<flatbuffers::String> reason;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::ChatMessage>>> messages;
  if (body.kind == ReplyBody::Kind::Error) reason = b.CreateString(body.reason);
  if (body.kind == ReplyBody::Kind::History) {
    std::vector<flatbuffers::Offset<fb::ChatMessage>> offsets;
    offsets.reserve(body.messages.size());
    for (const ChatMessage& m : body.messages) offsets.push_back(create_chat_message(b, m));
    messages = b.CreateVector(offsets);
  }
  fb::ReplyBuilder rb(b);
  rb.add_status(reply.status == ReplyStatus::Ok ? fb::ReplyStatus::Ok : fb::ReplyStatus::Error);
  switch (body.kind) {
    case ReplyBody::Kind::Empty:
      rb.add_kind(fb::ReplyKind::Empty);
      break;
    case ReplyBody::Kind::Error:
      rb.add_kind(fb::ReplyKind::Error);
      rb.add_reason(reason);
      break;
    case ReplyBody::Kind::Join:
      rb.add_kind(fb::ReplyKind::Join);
      if (body.recovered) {
        rb.add_has_recovered(true);
        rb.add_recovered(*body.recovered);
      }
      if (body.last_read_id) {
        rb.add_has_last_read_id(true);
        rb.add_last_read_id(*body.last_read_id);
        rb.add_unread(body.unread);
      }
      break;
    case ReplyBody::Kind::MarkRead:
      rb.add_kind(fb::ReplyKind::MarkRead);
      rb.add_has_last_read_id(true);
      rb.add_last_read_id(body.last_read_id.value_or(0));
      break;
    case ReplyBody::Kind::Refresh:
      rb.add_kind(fb::ReplyKind::Refresh);
      rb.add_exp(body.exp);
      break;
    case ReplyBody::Kind::Publish:
      rb.add_kind(fb::ReplyKind::Publish);
      rb.add_id(body.id);
      break;
    case ReplyBody::Kind::History:
      rb.add_kind(fb::ReplyKind::History);
      rb.add_messages(messages);
      rb.add_has_more(body.has_more);
      break;
  }
  finish_frame(b, reply.join_ref, reply.ref, reply.topic, fb::Body::Reply, rb.Finish().Union(),
               out);
}

void encode_new_msg(std::string_view topic, const ChatMessage& msg, std::string& out) {
  auto& b = thread_builder();
  auto body = create_chat_message(b, msg);
  finish_frame(b, std::nullopt, std::nullopt, topic, fb::Body::ChatMessage, body.Union(), out);
}

void encode_presence_state(const std::optional<std::string>& join_ref, std::string_view topic,
                           const PresenceStateView& state, std::string& out) {
  auto& b = thread_builder();
  auto entries = create_entries(b, state);
  auto body = fb::CreatePresenceState(b, entries);
  finish_frame(b, join_ref, std::nullopt, topic, fb::Body::PresenceState, body.Union(), out);
}

uint32_t encode_presence_state_tail(const PresenceStateView& state, std::string& out) {
  auto& b = thread_builder();
  auto entries = create_entries(b, state);
  auto body = fb::CreatePresenceState(b, entries);  // last: the tail is the whole buffer so far
  out.append(reinterpret_cast<const char*>(b.GetCurrentBufferPointer()), b.GetSize());
  return body.o;  // from the buffer's end, as the builder counts
}

void encode_presence_state_head(const std::optional<std::string>& join_ref, std::string_view topic,
                                std::string_view tail, uint32_t body, std::string& out) {
  auto& b = thread_builder();
  // The builder only needs the tail's size for the offsets it writes; the bytes keep the buffer
  // whole until the head is cut off.
  b.PushBytes(reinterpret_cast<const uint8_t*>(tail.data()), tail.size());
  // The tail's scalars (online_at) were aligned to 8 from its end: the frame's size must be a
  // multiple of 8 for them to stay aligned from its start.
  b.Align(sizeof(int64_t));
  auto join_ref_offset = create_optional(b, join_ref);
  auto topic_offset = b.CreateString(topic.data(), topic.size());
  fb::FinishFrameBuffer(
      b, fb::CreateFrame(b, join_ref_offset, 0, topic_offset, fb::Body::PresenceState,
                         flatbuffers::Offset<void>(body)));
  out.append(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize() - tail.size());
}

void encode_presence_diff(std::string_view topic, const PresenceDiff& diff, std::string& out) {
  auto& b = thread_builder();
  auto joins = create_entries(b, diff.joins);
  auto leaves = create_entries(b, diff.leaves);
  auto body = fb::CreatePresenceDiff(b, joins, leaves);
  finish_frame(b, std::nullopt, std::nullopt, topic, fb::Body::PresenceDiff, body.Union(), out);
}

void encode_close(const std::optional<std::string>& join_ref, std::string_view topic,
                  std::string& out) {
  auto& b = thread_builder();
  auto body = fb::CreateChannelClose(b);
  finish_frame(b, join_ref, join_ref, topic, fb::Body::ChannelClose, body.Union(), out);
}

void encode_channel_error(const std::optional<std::string>& join_ref, std::string_view topic,
                          std::string_view reason, std::string& out) {
  auto& b = thread_builder();
  auto body = fb::CreateChannelError(b, b.CreateString(reason.data(), reason.size()));
  finish_frame(b, join_ref, join_ref, topic, fb::Body::ChannelError, body.Union(), out);
}

void encode_typing(std::string_view topic, std::string_view user_id, std::string_view user,
                   std::string& out) {
  auto& b = thread_builder();
  auto user_id_offset = b.CreateString(user_id.data(), user_id.size());
  auto user_offset = b.CreateString(user.data(), user.size());
  auto body = fb::CreateTypingBroadcast(b, user_id_offset, user_offset);
  finish_frame(b, std::nullopt, std::nullopt, topic, fb::Body::TypingBroadcast, body.Union(), out);
}

void encode_read_state(std::string_view topic, int64_t last_read_id, std::string& out) {
  auto& b = thread_builder();
  auto body = fb::CreateReadState(b, last_read_id);
  finish_frame(b, std::nullopt, std::nullopt, topic, fb::Body::ReadState, body.Union(), out);
}

void encode_token_expiring(int64_t exp, std::string& out) {
  auto& b = thread_builder();
  auto body = fb::CreateTokenExpiring(b, exp);
  finish_frame(b, std::nullopt, std::nullopt, "phoenix", fb::Body::TokenExpiring, body.Union(),
               out);
}

void encode_msg_deleted(std::string_view topic, const ChatMessage& delete_event, std::string& out) {
  auto& b = thread_builder();
  auto by = b.CreateString(delete_event.user_id);
  auto body = fb::CreateMsgDeleted(b, delete_event.delete_target, delete_event.id, by);
  finish_frame(b, std::nullopt, std::nullopt, topic, fb::Body::MsgDeleted, body.Union(), out);
}

// ------------------------------------------------------------------ client side

void encode_client(const ClientMessage& msg, std::string& out) {
  auto& b = thread_builder();
  std::string_view topic = msg.topic;
  fb::Body type = fb::Body::NONE;
  flatbuffers::Offset<void> body;
  switch (msg.event) {
    case ClientEvent::Heartbeat:
      topic = "phoenix";
      type = fb::Body::Heartbeat;
      body = fb::CreateHeartbeat(b).Union();
      break;
    case ClientEvent::Join: {
      auto device = create_optional(b, msg.device);
      type = fb::Body::Join;
      body = fb::CreateJoin(b, msg.last_seen_id.has_value(), msg.last_seen_id.value_or(0), device)
                 .Union();
      break;
    }
    case ClientEvent::Leave:
      type = fb::Body::Leave;
      body = fb::CreateLeave(b).Union();
      break;
    case ClientEvent::NewMsg:
      type = fb::Body::NewMsgPush;
      body = fb::CreateNewMsgPush(b, b.CreateString(msg.body)).Union();
      break;
    case ClientEvent::History:
      type = fb::Body::HistoryRequest;
      body = fb::CreateHistoryRequest(b, msg.before_id.has_value(), msg.before_id.value_or(0),
                                      msg.limit)
                 .Union();
      break;
    case ClientEvent::Typing:
      type = fb::Body::Typing;
      body = fb::CreateTyping(b).Union();
      break;
    case ClientEvent::MarkRead:
      type = fb::Body::MarkReadPush;
      body = fb::CreateMarkReadPush(b, msg.read_id.value_or(0)).Union();
      break;
    case ClientEvent::Refresh:  // on topic "phoenix" when the caller says so (the server checks it)
      type = fb::Body::RefreshPush;
      body = fb::CreateRefreshPush(b, b.CreateString(msg.token)).Union();
      break;
    case ClientEvent::DeleteMsg:
      type = fb::Body::DeleteMsgPush;
      body = fb::CreateDeleteMsgPush(b, msg.message_id).Union();
      break;
    case ClientEvent::Other: {
      auto event = b.CreateString(msg.event_name);
      type = fb::Body::GenericPush;
      body = fb::CreateGenericPush(b, event, b.CreateString("{}")).Union();
      break;
    }
  }
  finish_frame(b, msg.join_ref, msg.ref, topic, type, body, out);
}

DecodeError decode_server(std::string_view bytes, ServerMessage& out) {
  out = ServerMessage{};
  const fb::Frame* frame = checked_frame(bytes, kMaxServerTables);
  if (frame == nullptr) return DecodeError::BadBuffer;
  if ((frame->join_ref() != nullptr && frame->join_ref()->size() > kMaxRefBytes) ||
      (frame->ref() != nullptr && frame->ref()->size() > kMaxRefBytes)) {
    return DecodeError::BadBuffer;
  }
  assign_optional(out.join_ref, frame->join_ref());
  assign_optional(out.ref, frame->ref());
  assign(out.topic, frame->topic());
  out.event_name.assign(event_name(frame->body_type()));

  switch (frame->body_type()) {
    case fb::Body::Reply: {
      out.event = ServerEvent::Reply;
      out.reply.join_ref = out.join_ref;
      out.reply.ref = out.ref;
      out.reply.topic = out.topic;
      const fb::Reply* r = frame->body_as_Reply();
      out.reply.status = r->status() == fb::ReplyStatus::Ok ? ReplyStatus::Ok : ReplyStatus::Error;
      ReplyBody& body = out.reply.body;
      switch (r->kind()) {
        case fb::ReplyKind::Empty:
          body.kind = ReplyBody::Kind::Empty;
          break;
        case fb::ReplyKind::Error:
          body.kind = ReplyBody::Kind::Error;
          assign(body.reason, r->reason());
          break;
        case fb::ReplyKind::Join:
          body.kind = ReplyBody::Kind::Join;
          if (r->has_recovered()) body.recovered = r->recovered();
          if (r->has_last_read_id()) {
            body.last_read_id = r->last_read_id();
            body.unread = r->unread();
          }
          break;
        case fb::ReplyKind::MarkRead:
          body.kind = ReplyBody::Kind::MarkRead;
          body.last_read_id = r->last_read_id();
          break;
        case fb::ReplyKind::Refresh:
          body.kind = ReplyBody::Kind::Refresh;
          body.exp = r->exp();
          break;
        case fb::ReplyKind::Publish:
          body.kind = ReplyBody::Kind::Publish;
          body.id = r->id();
          break;
        case fb::ReplyKind::History:
          body.kind = ReplyBody::Kind::History;
          if (r->messages() != nullptr) {
            body.messages.reserve(r->messages()->size());
            for (const fb::ChatMessage* m : *r->messages()) {
              read_chat_message(m, body.messages.emplace_back());
            }
          }
          body.has_more = r->has_more();
          break;
        default:
          return DecodeError::BadBuffer;  // a reply shape from a newer schema
      }
      break;
    }
    case fb::Body::ChatMessage:
      out.event = ServerEvent::NewMsg;
      read_chat_message(frame->body_as_ChatMessage(), out.message);
      break;
    case fb::Body::PresenceState:
      out.event = ServerEvent::PresenceState;
      read_entries(frame->body_as_PresenceState()->entries(), out.state);
      break;
    case fb::Body::PresenceDiff: {
      out.event = ServerEvent::PresenceDiff;
      const fb::PresenceDiff* d = frame->body_as_PresenceDiff();
      read_entries(d->joins(), out.diff.joins);
      read_entries(d->leaves(), out.diff.leaves);
      break;
    }
    case fb::Body::ChannelClose:
      out.event = ServerEvent::Close;
      break;
    case fb::Body::ChannelError:
      // As in the JSON codec: the reason travels as an error reply body.
      out.event = ServerEvent::Error;
      if (const flatbuffers::String* reason = frame->body_as_ChannelError()->reason()) {
        out.reply.body.kind = ReplyBody::Kind::Error;
        assign(out.reply.body.reason, reason);
      }
      break;
    case fb::Body::TypingBroadcast: {
      out.event = ServerEvent::Typing;
      const fb::TypingBroadcast* t = frame->body_as_TypingBroadcast();
      assign(out.user_id, t->user_id());
      assign(out.user, t->user());
      break;
    }
    case fb::Body::ReadState:
      out.event = ServerEvent::ReadState;
      out.last_read_id = frame->body_as_ReadState()->last_read_id();
      break;
    case fb::Body::TokenExpiring:
      out.event = ServerEvent::TokenExpiring;
      out.exp = frame->body_as_TokenExpiring()->exp();
      break;
    case fb::Body::MsgDeleted: {
      out.event = ServerEvent::MsgDeleted;
      const fb::MsgDeleted* d = frame->body_as_MsgDeleted();
      out.message.id = d->id();
      out.deleted_event_id = d->event_id();
      assign(out.user_id, d->deleted_by());
      break;
    }
    case fb::Body::GenericPush:
      out.event = ServerEvent::Other;
      assign(out.event_name, frame->body_as_GenericPush()->event());
      break;
    default:
      // A client-only body from the server: like a JSON "heartbeat" push, it is Other.
      out.event = ServerEvent::Other;
      break;
  }
  return DecodeError::None;
}

}  // namespace rtchat::proto::binary
