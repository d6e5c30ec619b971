// Fuzzes the Phoenix v2 JSON decoders (proto/phoenix_codec.h) with arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_invariants.h"
#include "proto/phoenix_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtchat;
  thread_local std::string storage;
  const std::string_view text = fuzz::misaligned_copy(storage, data, size);

  proto::ClientMessage client;
  if (proto::phoenix::decode_client(text, client) == proto::DecodeError::None) {
    fuzz::check_client_round_trip(
        client,
        [](std::string_view t, proto::ClientMessage& m) {
          return proto::phoenix::decode_client(t, m);
        },
        [](const proto::ClientMessage& m, std::string& out) {
          proto::phoenix::encode_client(m, out);
        });
  }
  proto::ServerMessage server;
  (void)proto::phoenix::decode_server(text, server);
  return 0;
}
