// Test doubles for the shard's ports (server/shard/ports.h) and helpers to read the frames queued
// on a connection: the owner side, the member side and the session run in tests without a ring.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "server/shard/connection_table.h"
#include "server/shard/ports.h"

namespace rtchat::server::testing {

struct FakeOutbound final : OutboundPort {
  std::vector<std::pair<unsigned, ShardMessage>> to_shards;
  std::vector<StorageRequest> to_storage;
  bool storage_behind = false;
  bool owners_behind = false;  // every other shard's mailbox over its limit

  void send_to_shard(unsigned shard, ShardMessage&& m) override {
    to_shards.emplace_back(shard, std::move(m));
  }
  void send_to_storage(StorageRequest&& r) override { to_storage.push_back(std::move(r)); }
  [[nodiscard]] bool backlogged(unsigned, size_t) const override { return owners_behind; }
  [[nodiscard]] bool storage_overloaded() const override { return storage_behind; }

  template <typename T>
  std::vector<std::pair<unsigned, T>> sent() const {
    std::vector<std::pair<unsigned, T>> out;
    for (const auto& [shard, m] : to_shards) {
      if (const T* t = std::get_if<T>(&m)) out.emplace_back(shard, *t);
    }
    return out;
  }
};

struct FakeSocket final : SocketPort {
  std::vector<ConnRef> closed_after_flush;
  std::vector<ConnRef> aborted;
  void close_after_flush(Connection& c) override {
    closed_after_flush.push_back(c.ref);
    c.phase = Phase::Closing;
  }
  void abort(Connection& c) override {
    aborted.push_back(c.ref);
    c.phase = Phase::Dead;
  }
};

struct WsFrame {
  uint8_t opcode = 0;
  std::string payload;
};

// Splits the unmasked server frames queued on c (and takes them off its queue).
inline std::vector<WsFrame> take_frames(Connection& c) {
  std::string bytes;
  iovec iov[OutboundQueue::kMaxIov];
  while (!c.out.empty()) {
    size_t n = c.out.gather(iov);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      total += iov[i].iov_len;
    }
    c.out.consume(total);
  }
  std::vector<WsFrame> frames;
  size_t at = 0;
  while (at + 2 <= bytes.size()) {
    auto b1 = static_cast<uint8_t>(bytes[at + 1]);
    uint64_t len = b1 & 0x7F;
    size_t header = 2;
    if (len == 126) {
      len = (uint64_t{static_cast<uint8_t>(bytes[at + 2])} << 8) |
            static_cast<uint8_t>(bytes[at + 3]);
      header = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(bytes[at + 2 + i]);
      header = 10;
    }
    frames.push_back({static_cast<uint8_t>(bytes[at] & 0x0F), bytes.substr(at + header, len)});
    at += header + len;
  }
  return frames;
}

// The payload of one unmasked server frame.
inline std::string payload_of(const core::SharedFrame& f) {
  std::string bytes(reinterpret_cast<const char*>(f.data()), f.size());
  if (bytes.size() < 2) return {};
  size_t len = static_cast<uint8_t>(bytes[1]) & 0x7F;
  size_t header = len == 126 ? 4 : len == 127 ? 10 : 2;
  return bytes.substr(header);
}

// A client frame as a browser sends it: FIN, masked (RFC 6455 5.3).
inline std::string client_frame(uint8_t opcode, std::string_view payload) {
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  for (uint8_t m : mask) f.push_back(static_cast<char>(m));
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ mask[i % 4]));
  }
  return f;
}

}  // namespace rtchat::server::testing
