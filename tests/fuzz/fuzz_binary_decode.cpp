// Fuzzes the rtchat.v1 FlatBuffers decoders (proto/binary_codec.h) with arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_invariants.h"
#include "proto/binary_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtchat;
  thread_local std::string storage;
  const std::string_view bytes = fuzz::misaligned_copy(storage, data, size);

  proto::ClientMessage client;
  if (proto::binary::decode_client(bytes, client) == proto::DecodeError::None) {
    fuzz::check_client_round_trip(
        client,
        [](std::string_view b, proto::ClientMessage& m) {
          return proto::binary::decode_client(b, m);
        },
        [](const proto::ClientMessage& m, std::string& out) {
          proto::binary::encode_client(m, out);
        });
  }
  proto::ServerMessage server;
  (void)proto::binary::decode_server(bytes, server);
  return 0;
}
