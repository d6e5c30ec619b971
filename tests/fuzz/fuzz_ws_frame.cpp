// Fuzzes the inbound frame-header checker (FrameBoundary, server/net/ws_frame.h) and cross-checks
// it against wslay, which parses the same bytes in the server. Beyond no crash, leak or UB:
// - the verdict does not depend on how the stream is split into receives, and valid_prefix points
//   at the same byte;
// - wslay, given only the bytes FrameBoundary accepts (as the shard does), never meets a framing
//   error FrameBoundary missed: unless it echoes a client's close, no bare close frame (wslay's
//   answer to a header it cannot parse), no 1009, and no 1002 other than for a bad close code.
#include <wslay/wslay.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "server/net/ws_frame.h"

namespace {

using rtchat::fuzz::require;
using rtchat::server::FrameBoundary;
using rtchat::server::FrameVerdict;

constexpr uint64_t kMaxMessageBytes = 4096;  // small, so the fuzzer reaches the limit

struct WslayRun {
  std::string_view input;
  std::string output;
  uint8_t last_frame_opcode = 0xFF;
};

ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user) {
  auto* run = static_cast<WslayRun*>(user);
  if (run->input.empty()) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = std::min(len, run->input.size());
  std::memcpy(buf, run->input.data(), n);
  run->input.remove_prefix(n);
  return static_cast<ssize_t>(n);
}

ssize_t on_send(wslay_event_context_ptr, const uint8_t* data, size_t len, int, void* user) {
  static_cast<WslayRun*>(user)->output.append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

void on_frame_start(wslay_event_context_ptr, const wslay_event_on_frame_recv_start_arg* arg,
                    void* user) {
  static_cast<WslayRun*>(user)->last_frame_opcode = arg->opcode;
}

// Runs the accepted bytes through a server-side wslay context configured as the shard's.
void check_against_wslay(std::string_view accepted) {
  WslayRun run{accepted, {}, 0xFF};
  wslay_event_callbacks callbacks = {on_recv, on_send, nullptr, on_frame_start,
                                     nullptr, nullptr, nullptr};
  wslay_event_context_ptr ctx = nullptr;
  require(wslay_event_context_server_init(&ctx, &callbacks, &run) == 0);
  wslay_event_config_set_max_recv_msg_length(ctx, kMaxMessageBytes);
  (void)wslay_event_recv(ctx);
  (void)wslay_event_send(ctx);
  const bool close_received = wslay_event_get_close_received(ctx) != 0;
  wslay_event_context_free(ctx);
  std::string_view out = run.output;
  while (out.size() >= 2) {
    const uint8_t opcode = static_cast<uint8_t>(out[0]) & 0x0F;
    const size_t len = static_cast<uint8_t>(out[1]) & 0x7F;
    require(out.size() >= 2 + len);
    // A received close is echoed with the client's own code, whatever it is; otherwise a close
    // is wslay's own verdict on the bytes.
    if (opcode == 0x8 && !close_received) {
      require(len >= 2);  // a bare close is wslay's answer to a header it could not parse
      const auto code =
          static_cast<uint16_t>((static_cast<uint8_t>(out[2]) << 8) | static_cast<uint8_t>(out[3]));
      require(code != 1009);
      if (code == 1002) require(run.last_frame_opcode == 0x8);  // a bad close code, only
    }
    out.remove_prefix(2 + len);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t stride = rtchat::fuzz::stride_for(data, size, 32);
  thread_local std::string storage;
  const std::string_view bytes = rtchat::fuzz::misaligned_copy(storage, data, size);

  FrameBoundary whole;
  const FrameVerdict w = whole.feed(bytes, kMaxMessageBytes);
  require(w.valid_prefix <= bytes.size());
  require(w.ok() == (w.close_code == 0) && (w.ok() || !w.reason.empty()));
  require(w.ok() || w.close_code == 1002 || w.close_code == 1009);
  if (w.ok()) require(w.valid_prefix == 0);

  FrameBoundary split;
  FrameVerdict s;
  size_t offset = 0;
  while (offset < bytes.size()) {
    std::string_view piece = bytes.substr(offset, stride);
    s = split.feed(piece, kMaxMessageBytes);
    require(s.valid_prefix <= piece.size());
    if (!s.ok()) break;
    offset += piece.size();
  }
  require(s.close_code == w.close_code && s.reason == w.reason);
  if (!s.ok()) {
    // Same offending frame: it began in this piece at valid_prefix, or in an earlier piece.
    if (s.valid_prefix > 0) require(offset + s.valid_prefix == w.valid_prefix);
    if (s.valid_prefix == 0) require(offset >= w.valid_prefix);
    // Sticky: later bytes change nothing.
    FrameVerdict again = split.feed(bytes, kMaxMessageBytes);
    require(again.close_code == s.close_code && again.valid_prefix == 0);
  }

  check_against_wslay(w.ok() ? bytes : bytes.substr(0, w.valid_prefix));
  return 0;
}
