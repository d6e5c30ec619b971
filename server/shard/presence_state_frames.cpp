#include "server/shard/presence_state_frames.h"

#include <cstring>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"
#include "server/net/ws_frame.h"

namespace rtchat::server {
namespace {
// `[join_ref,null,topic,"presence_state",`: the frame without the state object and the `]`.
void json_head(const std::optional<std::string>& join_ref, std::string_view topic,
               std::string& out) {
  out.clear();
  proto::phoenix::encode_presence_state(join_ref, topic, proto::PresenceStateView{}, out);
  out.resize(out.size() - 3);  // "{}]"
}
}  // namespace

PresenceStateFrames::Frames PresenceStateFrames::for_join(
    bool binary, const std::optional<std::string>& join_ref) {
  return binary ? binary_for(join_ref) : json_for(join_ref);
}

PresenceStateFrames::Frames PresenceStateFrames::json_for(
    const std::optional<std::string>& join_ref) {
  if (json_tail_.empty()) encode_json_tail();
  json_head(join_ref, topic_, scratch_);
  const size_t payload = scratch_.size() + json_tail_.size();
  const size_t h = ws_header_size(payload);
  Frames f;
  f.head = core::SharedFrame::make(h + scratch_.size(), [&](std::byte* p) {
    write_ws_header(p, WsOpcode::Text, payload);
    std::memcpy(p + h, scratch_.data(), scratch_.size());
  });
  f.tail = json_tail_;
  return f;
}

// The tail `{state}]`: from the room's kept text when it has one, else encoded from the records.
void PresenceStateFrames::encode_json_tail() {
  if (cache_ != nullptr && cache_->valid()) {
    std::string_view entries = cache_->entries();
    json_tail_ = core::SharedFrame::make(entries.size() + 3, [&](std::byte* p) {
      p[0] = std::byte{'{'};
      std::memcpy(p + 1, entries.data(), entries.size());
      p[entries.size() + 1] = std::byte{'}'};
      p[entries.size() + 2] = std::byte{']'};
    });
    cache_->used(now_ms_);
    return;
  }
  json_head(std::nullopt, topic_, scratch_);
  const size_t head = scratch_.size();
  scratch_.clear();
  proto::phoenix::encode_presence_state(std::nullopt, topic_, state_, scratch_);
  std::string_view tail = std::string_view(scratch_).substr(head);
  json_tail_ = core::SharedFrame::copy_of(tail);
  if (cache_ != nullptr) cache_->keep(tail.substr(0, tail.size() - 1), now_ms_);
  ++encodings_;
}

PresenceStateFrames::Frames PresenceStateFrames::binary_for(
    const std::optional<std::string>& join_ref) {
  if (binary_tail_.empty()) {
    scratch_.clear();
    binary_body_ = proto::binary::encode_presence_state_tail(state_, scratch_);
    binary_tail_ = core::SharedFrame::copy_of(scratch_);
    ++encodings_;
  }
  for (const auto& [ref, head] : binary_heads_) {
    if (ref == join_ref) return Frames{head, binary_tail_};
  }
  scratch_.clear();
  proto::binary::encode_presence_state_head(join_ref, topic_, binary_tail_.view(), binary_body_,
                                            scratch_);
  const size_t payload = scratch_.size() + binary_tail_.size();
  const size_t h = ws_header_size(payload);
  core::SharedFrame head = core::SharedFrame::make(h + scratch_.size(), [&](std::byte* p) {
    write_ws_header(p, WsOpcode::Binary, payload);
    std::memcpy(p + h, scratch_.data(), scratch_.size());
  });
  // A turn's joiners carry few distinct join_refs; past a handful, build a head per joiner
  // rather than searching a long list (a head copies the tail once: no state is encoded).
  if (binary_heads_.size() < kMaxCachedRefs) binary_heads_.emplace_back(join_ref, head);
  return Frames{std::move(head), binary_tail_};
}

}  // namespace rtchat::server
