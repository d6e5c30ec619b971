// What the fuzz targets demand of a decoder beyond "no crash, no leak, no UB": a successful decode
// re-encodes to bytes that decode to the same message. A violation traps so libFuzzer saves it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "proto/messages.h"

namespace rtchat::fuzz {

inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

inline bool same(const proto::ClientMessage& a, const proto::ClientMessage& b) {
  return a.join_ref == b.join_ref && a.ref == b.ref && a.topic == b.topic && a.event == b.event &&
         a.event_name == b.event_name && a.payload_valid == b.payload_valid &&
         a.last_seen_id == b.last_seen_id && a.device == b.device && a.body == b.body &&
         a.before_id == b.before_id && a.limit == b.limit;
}

// Copies data to an odd address: decoders are handed slices of receive buffers in production.
inline std::string_view misaligned_copy(std::string& storage, const uint8_t* data, size_t size) {
  storage.assign(1, '\0');
  storage.append(reinterpret_cast<const char*>(data), size);
  return std::string_view(storage).substr(1);
}

// decode -> encode -> decode must give the same client message. Heartbeats are skipped because
// the encoder always writes topic "phoenix", and invalid payloads because the decoder drops the
// offending field.
template <typename Decode, typename Encode>
void check_client_round_trip(const proto::ClientMessage& first, Decode decode, Encode encode) {
  if (!first.payload_valid || first.event == proto::ClientEvent::Heartbeat) return;
  std::string bytes;
  encode(first, bytes);
  proto::ClientMessage second;
  require(decode(bytes, second) == proto::DecodeError::None);
  require(same(first, second));
}

// A segment size in 1..max for feeding `data` in pieces, derived from the input so that no input
// byte is spent on it: split and whole feeds of the same stream must agree.
inline size_t stride_for(const uint8_t* data, size_t size, size_t max) {
  size_t h = size;
  if (size > 0) h = h * 31 + data[size / 2] + data[size - 1];
  return 1 + h % max;
}

}  // namespace rtchat::fuzz
